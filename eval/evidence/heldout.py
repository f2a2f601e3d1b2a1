"""The held-out measures of one selected model: greedy step reward and parse rate on the held-out step set,
resolved rate as an agent from the start (the same episode code as `srl eval`, graded in a fresh container),
and from expert prefixes (the expert's first N - k actions replayed and shown, k + 2 calls left)."""

from __future__ import annotations

from pathlib import Path

from evidence.budget import step_scores
from evidence.data import expert_prefixes, load_rows


def heldout_steps(model_dir: str, ctx, data) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    s = ctx.s
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    return step_scores(model, tok, load_rows(data.heldout_steps, s.heldout_examples), s.max_new_tokens, ctx.window)


def cached_grader(folder: Path):
    """The project's grader (`grade_patch`: a fresh container of the task image per patch), remembering each
    (task, patch) grade under `folder`, shared by all runs: the tests are deterministic, so a patch already graded
    for its task (the same expert prefix finished the same way, an unchanged tree) reuses that grade. Every
    distinct patch is still graded once in a fresh container; infrastructure errors are never remembered."""
    import hashlib
    import json
    import os

    from srl_agent.grading import grade_patch

    folder.mkdir(parents=True, exist_ok=True)

    def grade(task, patch):
        key = hashlib.sha256(f"{task.instance_id}\0{patch or ''}".encode()).hexdigest()[:32]
        path = folder / f"{key}.json"
        if path.is_file():
            return {**json.loads(path.read_text()), "cached": True}
        report = grade_patch(task, patch)
        rec = report.to_dict() if hasattr(report, "to_dict") else dict(report)
        if rec.get("status") != "ERROR":
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(rec))
            tmp.replace(path)
        return rec

    return grade


def _episodes(run_dir: Path) -> list[dict]:
    from srl_agent.eval.evaluation import read_reports

    return [{"instance_id": r["instance_id"], "resolved": bool(r["resolved"]), "steps": r["steps"],
             "stop_reason": r["stop_reason"], "grade_status": r["grade_status"]} for r in read_reports(run_dir)]


def heldout_agent(model_dir: str, ctx, data, run_dir: Path) -> dict:
    """{"start": [...], "k1": [...], ...}: one record per held-out task and starting point."""
    from srl_agent.eval.agent import AgentConfig
    from srl_agent.eval.evaluation import evaluate
    from srl_agent.policy.base import GenerationConfig
    from srl_agent.policy.transformers_policy import TransformersPolicy
    from srl_agent.tasks import load_suite

    s = ctx.s
    wanted = data.heldout_ids[:s.heldout_tasks] if s.heldout_tasks else data.heldout_ids
    tasks = [t for t in load_suite(ctx.suite, "test") if t.instance_id in set(wanted)]
    policy = TransformersPolicy(model_dir, gen=GenerationConfig(max_new_tokens=s.max_new_tokens, temperature=0.0))
    out: dict = {}
    starts = [("start", s.agent_steps, None)] + [(f"k{k}", k + 2, expert_prefixes(data, k)) for k in s.prefix_ks]
    for name, calls, prefixes in starts:
        folder = run_dir / f"eval-{name}"
        grader = cached_grader(Path(ctx.out) / "grades") if s.grade_cache else None
        evaluate(tasks, policy, folder, agent_config=AgentConfig(max_steps=calls), workers=s.eval_workers,
                 progress=False, prefixes=prefixes, grader=grader, record={"model": model_dir, "start": name})
        out[name] = _episodes(folder)
    return out


def heldout_measures(model_dir: str, ctx, run_dir: Path) -> dict:
    data = ctx.data()
    steps = heldout_steps(model_dir, ctx, data)
    agent = heldout_agent(model_dir, ctx, data, run_dir)
    resolved = {name: sum(e["resolved"] for e in eps) / max(1, len(eps)) for name, eps in agent.items()}
    return {"step_reward": steps["step_reward"], "parse_rate": steps["parse_rate"],
            "heldout_examples": steps["examples"], "heldout_prompts_cut": steps["prompts_cut"],
            "resolved": resolved, "episodes": agent, "container_cpu_seconds": None}
