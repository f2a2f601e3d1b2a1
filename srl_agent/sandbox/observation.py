"""Observation: what one command or tool call in a sandbox returned (the typed response of every sandbox call)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

SCHEMA = "srl-observation/1"


@dataclass(frozen=True)
class Observation:
    """`output` is capped and UTF-8 clean; `exit_code` is the kernel's wait status of the command's bash (128 +
    signal when killed), None when it did not finish on its own (timed out, not run, or its channel failed);
    `restarted` says the shell state was lost (the supervisor or the container had to be replaced), so cwd,
    variables and background jobs of earlier commands are gone."""

    output: str
    exit_code: int | None
    timed_out: bool = False
    truncated: bool = False
    duration: float = 0.0
    restarted: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, **asdict(self)}

    @staticmethod
    def from_dict(d: dict) -> "Observation":
        code = d.get("exit_code")
        return Observation(output=str(d.get("output", "")), exit_code=None if code is None else int(code),
                           timed_out=bool(d.get("timed_out", False)), truncated=bool(d.get("truncated", False)),
                           duration=float(d.get("duration", 0.0)), restarted=bool(d.get("restarted", False)))


@dataclass(frozen=True)
class ResetResult:
    """What `Sandbox.reset()` did: `recreated` when the start state could not be proven in place (permissions
    removed, .git deleted, git objects changed, processes that would not die) and a new container was started
    at the checkpoint instead; `reason` says why."""

    seconds: float
    recreated: bool = False
    reason: str | None = None

    def __float__(self) -> float:
        return self.seconds
