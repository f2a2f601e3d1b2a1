"""The private TRL internals srl_agent relies on, recorded against TRL 1.16: a change names what moved.

dynamic.py and rlvr.py subclass GRPOTrainer and override or call its private methods and attributes; pyproject
pins `trl>=1.16,<1.17` for that reason. When TRL is upgraded, this test says which contract broke (the method,
its recorded signature, the one found) so the overrides can be reviewed before the pin is widened.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

trl = pytest.importorskip("trl")

SRC = Path(__file__).resolve().parents[2] / "srl_agent"

# (owner, name) -> parameter names with defaults, as TRL 1.16 has them (annotations left out: they depend on torch).
METHODS = {
    ("GRPOTrainer", "_generate_and_score_completions"): "(self, inputs)",   # overridden in dynamic.py
    ("GRPOTrainer", "_calculate_rewards"): "(self, inputs, prompts, completions, completion_ids_list)",  # dynamic, rlvr
    ("unwrap_model_for_generation", ""): "(model, accelerator, gather_deepspeed3_params=True, "
                                         "generation_kwargs=None, gradient_checkpointing_kwargs=None)",  # rlvr.py
}
# Private attributes GRPOTrainer.__init__ must assign (read by dynamic.py / rlvr.py).
ATTRIBUTES = ("_metrics", "_tokenizer")
# Public attributes of the trainer the overrides read (their names are part of the same contract).
PUBLIC_ATTRIBUTES = ("reward_weights", "num_generations")
# Keys of _generate_and_score_completions' output that dynamic.merge_rows pads and re-batches.
OUTPUT_KEYS = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages", "tool_mask",
               "num_items_in_batch")


def _target(owner: str, name: str):
    if owner == "GRPOTrainer":
        from trl import GRPOTrainer

        return getattr(GRPOTrainer, name, None)
    from trl.models import utils

    return getattr(utils, owner, None)


def _shape(fn) -> str:
    params = []
    for p in inspect.signature(fn).parameters.values():
        params.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}")
    return "(" + ", ".join(params) + ")"


def _init_source() -> str:
    from trl import GRPOTrainer

    return inspect.getsource(GRPOTrainer.__init__)


def test_trl_version_is_the_pinned_range():
    """pyproject pins trl>=1.16,<1.17: the overrides below were written and tested against exactly that."""
    major, minor = (int(x) for x in trl.__version__.split(".")[:2])
    assert (major, minor) == (1, 16), f"TRL {trl.__version__} is installed; srl_agent is tested with 1.16.x only"
    text = (SRC.parent / "pyproject.toml").read_text()
    assert '"trl>=1.16,<1.17"' in text, "pyproject.toml must pin trl>=1.16,<1.17"


@pytest.mark.parametrize("owner,name", list(METHODS), ids=[f"{o}.{n}".rstrip(".") for o, n in METHODS])
def test_private_trl_signature_unchanged(owner, name):
    """Each private method overridden or called keeps the signature the override was written against."""
    label = f"trl {owner}.{name}".rstrip(".")
    fn = _target(owner, name) if name else _target(owner, "")
    assert fn is not None, f"{label} no longer exists in TRL {trl.__version__}: review srl_agent/train/dynamic.py " \
                           f"and rlvr.py, which override or call it"
    found = _shape(fn)
    assert found == METHODS[(owner, name)], (
        f"{label} changed in TRL {trl.__version__}: recorded {METHODS[(owner, name)]}, found {found}; "
        f"review the overrides in srl_agent/train/dynamic.py and rlvr.py before widening the pin")


@pytest.mark.parametrize("attr", ATTRIBUTES + PUBLIC_ATTRIBUTES)
def test_trainer_attribute_still_assigned(attr):
    """The attributes the overrides read are still set by GRPOTrainer.__init__."""
    assert re.search(rf"self\.{attr}\s*=", _init_source()), (
        f"GRPOTrainer.__init__ in TRL {trl.__version__} no longer assigns self.{attr}, which "
        f"srl_agent/train/dynamic.py / rlvr.py read")


def test_output_keys_and_rollout_contract_unchanged():
    """merge_rows re-pads these output keys; RLVRRollout returns env_mask, which TRL must read as tool_mask."""
    from trl import GRPOTrainer

    out_src = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    missing = [k for k in OUTPUT_KEYS if f'"{k}"' not in out_src]
    assert not missing, f"GRPOTrainer._generate_and_score_completions (TRL {trl.__version__}) no longer builds " \
                        f"{missing}: review merge_rows in srl_agent/train/dynamic.py"
    gen_src = inspect.getsource(GRPOTrainer._generate)
    assert "self.rollout_func(prompts, self)" in gen_src, \
        f"TRL {trl.__version__} calls rollout_func differently: review RLVRRollout.__call__ in srl_agent/train/rlvr.py"
    assert '"env_mask"' in gen_src, \
        f"TRL {trl.__version__} no longer reads env_mask from rollout_func: RLVR would train on tool output tokens"


def test_every_private_trl_use_is_recorded():
    """A new `super()._x` or `trainer._x` in srl_agent/train must be added to this contract (so it is checked)."""
    known = {n for _, n in METHODS if n} | set(ATTRIBUTES) | {"_last_rewards", "_fresh_inputs"}
    used = set()
    for path in (SRC / "train").glob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"super\(\)\.(_[a-z]\w*)", text))
        used |= set(re.findall(r"trainer\.(_[a-z]\w*)", text))
        if "GRPOTrainer" in text:
            used |= set(re.findall(r"self\.(_[a-z]\w*)\b(?!\s*=)", text)) & {"_metrics", "_tokenizer", "_logs",
                                                                          "_generate", "_last_loaded_step"}
    unknown = sorted(used - known - {"_shared"})
    assert not unknown, f"srl_agent/train uses TRL internals not in this contract: {unknown}; add them above"
