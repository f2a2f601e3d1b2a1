"""RLVR: outcome rewards of whole sandbox episodes, env_mask, infrastructure failures, expert-prefix starts."""

from __future__ import annotations

import math
import os
import random

import pytest

from srl_agent.actions import Action, format_completion
from srl_agent.errors import SandboxError
from srl_agent.policy.scripted import DeterministicPolicy

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def _task():
    from srl_agent.tasks import load_suite

    return load_suite("pypi-mutants", "train")[0]


def _fix_outputs(task) -> list[str]:
    fix = Action.bash("cd /testbed && git apply - <<'SRL_EOF'\n" + task.gold_patch + "SRL_EOF")
    return [format_completion("Apply the fix.", fix), format_completion("Done.", Action.submit())]


_GIVE_UP = [format_completion("Look around.", Action.bash("ls")), "no think block",
            format_completion("Give up.", Action.submit())]


class Alternating:
    """Odd episodes fix the bug and submit; even ones look around, write one malformed output and submit."""

    name = "alternating"

    def __init__(self, task) -> None:
        self.good, self.n = _fix_outputs(task), 0

    def episode(self, task):
        self.n += 1
        return DeterministicPolicy(list(self.good if self.n % 2 else _GIVE_UP))

    def generate(self, messages):
        raise AssertionError("episode() first")


@pytest.fixture(scope="module")
def tokenizer(student_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(student_dir))


@pytest.fixture(scope="module")
def trained(student_dir, tmp_path_factory, base_image):
    """One real RLVR optimizer step (G=2) where a scripted actor resolves the task in one episode only."""
    from srl_agent.policy.student import load_student
    from srl_agent.train.config import load_config
    from srl_agent.train.rlvr import RLVRConfig, build_rlvr
    from srl_agent.train.rollout import TextActor

    task = _task()
    model, tok = load_student(str(student_dir))
    out = tmp_path_factory.mktemp("rlvr")
    cfg = load_config(RLVRConfig, "rlvr_cpu", model=str(student_dir), output_dir=str(out), tasks=[task.instance_id],
                      max_steps=1, num_generations=2, per_device_train_batch_size=2, report_to=[])
    trainer, rollout, sandboxes = build_rlvr(cfg, actor=TextActor(Alternating(task), tok), model=model, tokenizer=tok)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    try:
        trainer.train()
    finally:
        sandboxes.close()
    return trainer, rollout, before, out


@pytest.mark.docker
def test_rlvr_step_rewards_resolving_episodes_one_and_others_zero(trained):
    """The outcome reward is 1 exactly for the episode whose patch resolves the task, and the step learns from it."""
    import json

    trainer, rollout, before, out = trained
    assert [r.reward for r in rollout.last] == [1.0, 0.0]
    assert [r.grade_status for r in rollout.last] == ["FULL", "NO"]
    assert [r.stop_reason for r in rollout.last] == ["submitted", "submitted"]
    assert rollout.last[1].format_errors == 1
    logged = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged[0]["rewards/outcome/mean"] == 0.5 and logged[0]["dynamic_sampling/dropped_frac"] == 0.0
    moved = any(not p.detach().equal(before[n]) for n, p in trainer.model.named_parameters())
    assert moved, "a group with one success and one failure must change the weights"
    episodes = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert [e["resolved"] for e in episodes] == [True, False]


@pytest.mark.docker
def test_masked_tokens_are_exactly_the_observation_turns(trained, tokenizer):
    """env_mask is 0 on the environment's turns (templated observations) and 1 on every token the student wrote,
    and the growing sequence is token for token the chat template of the whole conversation."""
    from srl_agent.train.rollout import ChatTokens

    chat = ChatTokens(tokenizer)
    _trainer, rollout, _before, _out = trained
    for r in rollout.last:
        runs, cur, flag = [], [], None
        for tok, m in zip(r.completion_ids, r.env_mask):
            if flag is not None and m != flag:
                runs.append((flag, cur))
                cur = []
            cur.append(tok)
            flag = m
        runs.append((flag, cur))
        student = [ids for m, ids in runs if m == 1]
        env = [ids for m, ids in runs if m == 0]
        outputs = [m["content"] for m in r.messages[len(r.messages) - 2 * len(student) + 1::2]]
        observations = [m["content"] for m in r.messages[len(r.messages) - 2 * len(student) + 2::2]]
        assert [tokenizer.decode(ids) for ids in student] == [o + tokenizer.eos_token for o in outputs]
        assert env == [chat.user_turn(o) for o in observations]
        assert all(o.startswith("OBSERVATION:\n") for o in observations)
        whole = tokenizer.apply_chat_template(r.messages, tokenize=False)
        assert tokenizer.decode(r.prompt_ids + r.completion_ids) == whole[:whole.rfind(tokenizer.eos_token) + len(tokenizer.eos_token)]


def test_infrastructure_failure_is_excluded_not_scored_zero(tokenizer):
    """A sandbox that cannot start gives reward None (TRL: NaN, out of the group mean and std, advantage 0), and
    the DAPO filter counts only scored episodes: a group with one success, one failure and one infra failure is
    kept; a group with one success and infra failures only is not."""
    from srl_agent.train.rlvr import OutcomeFilter, group_keep_mask, outcome_reward
    from srl_agent.train.rollout import EpisodeLimits, EpisodeRunner, EpisodeSpec, TaskSandboxes, TextActor

    def broken(task):
        raise SandboxError("the engine refused to start the container")

    runner = EpisodeRunner(tokenizer, TaskSandboxes(factory=broken), EpisodeLimits(max_steps=2))
    task = _task()
    results = runner.run([EpisodeSpec(task), EpisodeSpec(task)], TextActor(Alternating(task), tokenizer))
    assert [r.reward for r in results] == [None, None]
    assert all("could not start" in r.infra_error for r in results)
    assert all(len(r.completion_ids) == 1 and r.env_mask == [0] for r in results)
    assert outcome_reward(["", ""], episode_reward=[None, 1.0]) == [None, 1.0]
    keep = OutcomeFilter().keep
    assert keep([1.0, math.nan, 0.0]) and not keep([1.0, math.nan, math.nan]) and not keep([1.0, 1.0, math.nan])
    assert group_keep_mask([1.0, None, 0.0, 1.0, None, None, 0.0, 0.0, 0.0], 3) == [True, False, False]


def test_prefix_schedules_sample_k_in_range():
    """uniform draws k from 0..N; reverse starts at N (replay all but the submit) and widens to 0..N."""
    from srl_agent.train.rlvr import ExpertPrefix

    rng = random.Random(0)
    rev = ExpertPrefix(enabled=True, schedule="reverse", anneal_steps=10)
    assert {rev.sample_k(6, 0, rng) for _ in range(50)} == {6}
    assert {rev.sample_k(6, 10, rng) for _ in range(400)} == set(range(7))
    assert {ExpertPrefix(enabled=True, schedule="uniform").sample_k(3, 0, rng) for _ in range(200)} == {0, 1, 2, 3}
    assert ExpertPrefix(enabled=True, probability=0.0).sample_k(5, 3, rng) == 0


@pytest.mark.docker
def test_expert_prefix_start_state_equals_state_after_replaying_k_actions(tokenizer, base_image):
    """An expert-prefix episode starts where replaying the expert's first k actions leads: same work-dir diff,
    same files, and the prompt shows those expert rounds."""
    from srl_agent.tasks import task_sandbox
    from srl_agent.trajectory.generate import expert_trajectory
    from srl_agent.train.rollout import EpisodeLimits, EpisodeRunner, EpisodeSpec, TaskSandboxes

    task = _task()
    with task_sandbox(task) as sb:
        expert = expert_trajectory(task, sb, "prefix-test")
        edit = next(i for i, s in enumerate(expert.steps) if s.action.tool == "str_replace_editor"
                    and s.action.args.get("command") != "view")
        k = edit + 1  # the prefix includes the expert's fix
        sb.reset()
        for step in expert.steps[:k]:
            sb.execute(step.action)
        want_diff = sb.diff()
        path = expert.steps[edit].action.args["path"]
        want_file = sb.read_file(path)
    assert want_diff.strip(), "the replayed prefix should have changed the code"

    seen = {}

    class Probe:
        def act(self, episodes):
            e = episodes[0]
            seen.update(diff=e.sandbox.diff(), file=e.sandbox.read_file(path), messages=list(e.messages))
            text = format_completion("The expert fixed it; submit.", Action.submit())
            return [list(tokenizer(text, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]]

    sandboxes = TaskSandboxes(per_task=1)
    try:
        runner = EpisodeRunner(tokenizer, sandboxes, EpisodeLimits(max_steps=2))
        [result] = runner.run([EpisodeSpec(task, tuple(expert.steps[:k]))], Probe())
    finally:
        sandboxes.close()
    assert seen["diff"] == want_diff and seen["file"] == want_file
    assert result.prefix_k == k and result.reward is not None
    shown = [m["content"] for m in seen["messages"] if m["role"] == "assistant"]
    assert shown == [s.action.render() for s in expert.steps[max(0, k - 2):k]]


def test_rlvr_config_presets_load_and_check_fields():
    from srl_agent.errors import ConfigError
    from srl_agent.train.config import load_config
    from srl_agent.train.rlvr import OutcomeFilter, RLVRConfig

    cfg = load_config(RLVRConfig, "rlvr_cpu")
    assert cfg.data == "pypi-mutants" and isinstance(cfg.dynamic_sampling, OutcomeFilter) and not cfg.prefix.enabled
    assert cfg.to_dict()["method"] == "rlvr"
    paper = load_config(RLVRConfig, "rlvr_paper")
    assert (paper.num_generations, paper.prompts_per_batch, paper.beta, paper.learning_rate) == (8, 128, 0.0, 5e-7)
    with pytest.raises(ConfigError):
        load_config(RLVRConfig, "rlvr_cpu", prefix={"schedule": "sideways"})
    with pytest.raises(ConfigError):
        load_config(RLVRConfig, "rlvr_cpu", max_completion_length=4096, max_episode_tokens=2048)
