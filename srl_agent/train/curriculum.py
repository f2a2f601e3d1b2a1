"""`srl train --method srl-then-rlvr`: SRL for a budget, then RLVR from its model, in one run directory.

Layout: `<output>/srl/` is the SRL stage's run (checkpoints, metrics, `final/`), `<output>/rlvr/` the RLVR stage's,
started from `<output>/srl/final`; `<output>/curriculum.json` records the stages' progress. A stage whose `final/`
model exists is done and skipped, so `--resume` continues wherever the run stopped: inside SRL from its last
checkpoint, or inside RLVR from its own.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_agent.errors import ConfigError
from srl_agent.train.config import METHOD_OF, SRLConfig, TrainConfig, load_config
from srl_agent.train.rlvr import RLVRConfig, train_rlvr
from srl_agent.train.srl import TrainResult, train_srl

log = logging.getLogger(__name__)

STATE_FILE = "curriculum.json"
# Fields set at the top level that both stages share, unless a stage sets its own.
_SHARED = ("seed", "bf16", "report_to", "save_steps", "save_total_limit", "logging_steps", "lora",
           "gradient_checkpointing", "max_steps")


@dataclass
class CurriculumConfig(TrainConfig):
    """`data`: the SRL stage's step examples; `suite`: the RLVR stage's tasks. `srl` / `rlvr`: each stage's
    settings, a mapping of SRLConfig / RLVRConfig fields; its `config` key names a YAML file or preset to start
    from (defaults: srl_cpu and rlvr_cpu). Top-level `model` is the starting model; top-level shared fields
    (seed, max_steps, save_steps, ...) apply to a stage that does not set them itself."""

    suite: str = "pypi-mutants"
    srl: dict[str, Any] = field(default_factory=dict)
    rlvr: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("srl", "rlvr"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"`{name}:` must be a mapping of the stage's settings")

    def _shared(self, stage: dict) -> dict:
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
        out = {}
        for name in _SHARED:
            value = getattr(self, name)
            if name not in stage and value != defaults.get(name, object()):
                out[name] = value
        return out

    def stage_config(self, name: str) -> TrainConfig:
        out = Path(self.output_dir)
        settings = dict(getattr(self, name))
        preset = settings.pop("config", f"{name}_cpu")
        if name == "srl":
            fixed = {"data": self.data, "model": self.model, "output_dir": str(out / "srl")}
            cls: type[TrainConfig] = SRLConfig
        else:
            fixed = {"data": self.suite, "model": str(out / "srl" / "final"), "output_dir": str(out / "rlvr")}
            cls = RLVRConfig
        clash = sorted(set(settings) & set(fixed))
        if clash:
            raise ConfigError(f"set {', '.join(clash)} at the top level of the curriculum config, not under `{name}:`")
        return load_config(cls, preset, **{**self._shared(settings), **settings, **fixed})


METHOD_OF[CurriculumConfig] = "srl-then-rlvr"


def _state(out: Path) -> dict:
    path = out / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {"schema": "srl-curriculum/1", "stages": {}}


def _save_state(out: Path, state: dict) -> None:
    (out / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")


def stage_done(stage_dir: Path) -> bool:
    return (stage_dir / "final" / "config.json").is_file()


def train_srl_then_rlvr(config: CurriculumConfig, *, resume: bool = False, rlvr_replace: dict | None = None,
                        srl_trainer_cls=None) -> TrainResult:
    """Run the SRL stage (unless its final model exists and `resume`), then RLVR from it. `rlvr_replace` passes
    test doubles (actor, sandboxes, grader) to the RLVR stage."""
    out = Path(config.output_dir)
    if not data_given(config):
        raise ConfigError("srl-then-rlvr needs --data: the SRL stage's step examples (`srl traj split`)")
    srl_cfg, rlvr_cfg = config.stage_config("srl"), config.stage_config("rlvr")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
    state = _state(out) if resume else {"schema": "srl-curriculum/1", "stages": {}}
    if resume and stage_done(out / "srl"):
        log.info("[srl-then-rlvr] SRL stage already done (%s); going on with RLVR", out / "srl" / "final")
    else:
        state["current"] = "srl"
        _save_state(out, state)
        res = train_srl(srl_cfg, resume=resume, trainer_cls=srl_trainer_cls)
        state["stages"]["srl"] = res.__dict__
    state["current"] = "rlvr"
    _save_state(out, state)
    res = train_rlvr(rlvr_cfg, resume=resume, **(rlvr_replace or {}))
    state["stages"]["rlvr"] = res.__dict__
    state["current"] = "done"
    _save_state(out, state)
    return TrainResult("srl-then-rlvr", str(out), res.global_step, res.final_model_dir, res.metrics_file,
                       res.resumed_from)


def data_given(config: CurriculumConfig) -> bool:
    return bool(config.data)
