"""What an import kept and lost, per source format: records, accepted, rejected by reason, and the gaps in what
was accepted (empty thoughts, missing patches, unknown resolution), so a user sees at a glance what was lost."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from srl_agent.trajectory.schema import Trajectory

UNDETECTED = "(undetected)"
ASSUMED = "assumed (--assume-resolved)"
# Formats whose published datasets hold only resolved trajectories (SWE-smith kept only the runs that resolved).
RESOLVED_BY_CONSTRUCTION = ("swe-smith",)


def reason_key(field_: str, reason: str) -> str:
    """Rejection reasons grouped across records: indices and numbers folded, long texts cut."""
    where = re.sub(r"\[\d+\]", "[]", field_)
    return f"{where}: {re.sub(r'(?<![A-Za-z-])[0-9]+', 'N', reason)[:120]}"  # counts go, names like UTF-8 stay


@dataclass
class FormatCounts:
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    steps: int = 0
    empty_thoughts: int = 0
    missing_patches: int = 0
    unknown_resolution: int = 0
    assumed_resolved: int = 0
    reasons: Counter = field(default_factory=Counter)

    def accept(self, t: Trajectory) -> None:
        self.records += 1
        self.accepted += 1
        self.steps += len(t.steps)
        self.empty_thoughts += sum(1 for s in t.steps if not s.thought.strip())
        self.missing_patches += not t.patch
        self.unknown_resolution += t.resolved is None
        self.assumed_resolved += t.meta.get("resolved_from") == ASSUMED

    def reject(self, field_: str, reason: str) -> None:
        self.records += 1
        self.rejected += 1
        self.reasons[reason_key(field_, reason)] += 1

    def add(self, o: "FormatCounts") -> None:
        for k in ("records", "accepted", "rejected", "steps", "empty_thoughts", "missing_patches",
                  "unknown_resolution", "assumed_resolved"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        self.reasons.update(o.reasons)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("records", "accepted", "rejected", "steps", "empty_thoughts",
                                           "missing_patches", "unknown_resolution", "assumed_resolved")}
        d["rejected_by_reason"] = dict(self.reasons.most_common())
        return d


def merge(into: dict[str, FormatCounts], other: dict[str, FormatCounts]) -> None:
    for name, counts in other.items():
        into.setdefault(name, FormatCounts()).add(counts)


def _pct(n: int, of: int) -> str:
    return f"{n} ({100 * n / of:.0f}%)" if of else str(n)


def format_table(by_format: dict[str, FormatCounts]) -> str:
    """One row per source format, then the rejection reasons, then hints for what the user can do."""
    head = (f"{'source format':<20} {'records':>8} {'accepted':>9} {'rejected':>9} {'steps':>8} "
            f"{'empty thoughts':>16} {'no patch':>10} {'resolved unknown':>17}")
    lines = [head]
    for name, c in sorted(by_format.items()):
        unknown = _pct(c.unknown_resolution, c.accepted) + (f" +{c.assumed_resolved} assumed"
                                                            if c.assumed_resolved else "")
        lines.append(f"{name:<20} {c.records:>8} {c.accepted:>9} {c.rejected:>9} {c.steps:>8} "
                     f"{_pct(c.empty_thoughts, c.steps):>16} {_pct(c.missing_patches, c.accepted):>10} {unknown:>17}")
    rejected = [(name, r, n) for name, c in sorted(by_format.items()) for r, n in c.reasons.most_common()]
    if rejected:
        lines += ["", "rejected by reason:"] + [f"  {name}: {r}  x{n}" for name, r, n in rejected]
    for name in RESOLVED_BY_CONSTRUCTION:
        c = by_format.get(name)
        if c and c.unknown_resolution:
            lines += ["", f"note: {c.unknown_resolution} {name} trajectories carry no resolved flag; {name}'s "
                          "published trajectories are resolved-only by construction: import with --assume-resolved "
                          "to mark them resolved (recorded as meta.resolved_from)"]
    return "\n".join(lines)
