"""The trace viewer: one self-contained HTML page (inline CSS and JS, no network) for an eval run, expert
trajectories or predictions, with headline counts, a table that fits the kind of run, and a timeline per trace.

Everything from a trace is escaped (outputs and observations may contain HTML); the only markup is ours.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from html import escape
from typing import Sequence

from srl_agent.traces.display import action_body_html, describe
from srl_agent.traces.html import (PromptTable, bar_html, cards_html, char_diff, notes_html, page, patch_html,
                                   patch_stat, pct, prompt_button)
from srl_agent.traces.schema import Trace, TraceStep

# Re-exported: tests and callers used them from here before the shared parts moved to html.py.
__all__ = ["render_html", "trace_names", "trace_kind", "char_diff", "patch_html", "STATUSES"]

LONG_OBSERVATION_CHARS = 1200
LONG_OBSERVATION_LINES = 20
STATUSES = ("resolved", "unresolved", "error", "ungraded")
KINDS = ("eval", "expert", "predictions")
_NOUN = {"eval": "episodes", "expert": "trajectories", "predictions": "predictions"}


def trace_kind(traces: Sequence[Trace]) -> str:
    """eval (student episodes), expert (imported trajectories) or predictions (patches only)."""
    reasons = {t.stop_reason for t in traces}
    if reasons == {"expert"}:
        return "expert"
    if reasons == {"prediction"}:
        return "predictions"
    return "eval"


def source_label(trace: Trace) -> str:
    """'file#index' of the record a trace came from ('' for student episodes)."""
    src = trace.meta.get("source") if isinstance(trace.meta.get("source"), dict) else None
    if not src:
        return ""
    return f"{os.path.basename(str(src.get('file', '')))}#{src.get('index', 0)}"


def _file_label(trace: Trace) -> str:
    return os.path.basename(str((trace.meta.get("source") or {}).get("file", "")))


def _sample_label(trace: Trace) -> str:
    return "" if trace.stop_reason in ("expert", "prediction") else f"sample {trace.sample}"


def trace_names(traces: Sequence[Trace]) -> list[str]:
    """A unique, informative name per trace: the instance id, and where two traces share it, the first of
    sample number, source file, source file#record that tells them apart (else a counter)."""
    names = [t.instance_id for t in traces]
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    for name, idx in groups.items():
        if len(idx) == 1:
            continue
        for label in (_sample_label, _file_label, source_label):
            labels = [label(traces[i]) for i in idx]
            if all(labels) and len(set(labels)) == len(labels):
                for i, text in zip(idx, labels):
                    names[i] = f"{name} · {text}"
                break
        else:
            for k, i in enumerate(idx, 1):
                names[i] = f"{name} ({k})"
    return names


def _observation_html(text: str) -> str:
    if len(text) > LONG_OBSERVATION_CHARS or text.count("\n") > LONG_OBSERVATION_LINES:
        return (f'<details class="obs"><summary>observation ({text.count(chr(10)) + 1} lines, '
                f'{len(text)} chars)</summary><pre>{escape(text)}</pre></details>')
    return f"<pre>{escape(text)}</pre>"


def _summary_line(step: TraceStep, expert: bool) -> str:
    if step.format_error is not None:
        what = f'<span class="fmt">format error</span> {escape(step.format_error)}'
    else:
        shown = describe(step.action, step.tool, expert=expert)
        mark = ' <span class="swe">SWE-agent</span>' if shown.swe_agent else ""
        what = f'<b class="tool">{escape(shown.name)}</b>{mark} {escape(shown.brief)}'
    reward = f' · <span class="reward">r={step.reward:.2f}</span>' if step.reward is not None else ""
    return f"#{step.index + 1} · {what}{reward}"


def _action_html(step: TraceStep, expert: bool) -> str:
    shown = describe(step.action, step.tool, expert=expert)
    if step.expert_action is None:
        return f'<div class="label">action</div>{action_body_html(step.action or "", shown)}'
    mine, theirs = char_diff(step.action or "", step.expert_action)
    mine = mine or '<span class="meta">(no action: the output was malformed)</span>'
    theirs_shown = describe(step.expert_action, None, expert=True)
    what = f" ({escape(theirs_shown.name)}: SWE-agent command)" if theirs_shown.swe_agent else ""
    reward = "" if step.reward is None else f' · step reward <span class="reward">{step.reward:.3f}</span>'
    return (f'<div class="label">action vs. expert action{reward}</div><div class="pair">'
            f'<div><div class="cap">this step</div><pre class="mine">{mine}</pre></div>'
            f'<div><div class="cap">expert{what}</div><pre class="expert">{theirs}</pre></div></div>')


def step_html(step: TraceStep, key: str, *, expert: bool, prompts: PromptTable, shared: str = "") -> str:
    parts = []
    if step.prompt:
        prompts.add(key, step.prompt, shared)
        what = "SRL step prompt (rebuilt from the trajectory)" if expert else "prompt the model saw"
        parts.append(prompt_button(key, step.prompt, what))
    if step.think:
        parts.append(f'<div class="label">monologue</div><div class="think">{escape(step.think.strip())}</div>')
    if step.format_error is not None:
        parts.append(f'<div class="label">raw output (malformed: {escape(step.format_error)})</div>'
                     f"<pre>{escape(step.raw_output)}</pre>")
    if step.action is not None or step.expert_action is not None:
        parts.append(_action_html(step, expert))
    if step.raw_output and step.format_error is None:
        parts.append(f"<details><summary class=\"cap\">raw output</summary><pre>{escape(step.raw_output)}</pre></details>")
    extra = f" · exit {step.exit_code}" if step.exit_code is not None else ""
    extra += " · timed out" if step.timed_out else ""
    parts.append(f'<div class="label">observation{extra}</div>{_observation_html(step.observation)}')
    cls = "bad" if step.format_error is not None else ("sub" if step.tool == "submit" else "")
    return (f'<li class="{cls}"><details class="step" data-nav="step" data-index="{step.index}">'
            f"<summary>{_summary_line(step, expert)}</summary><div class=\"step-body\">{''.join(parts)}</div>"
            "</details></li>")


def _tests_html(tests_status: dict) -> str:
    """SWE-bench's tests_status ({FAIL_TO_PASS: {success: [...], failure: [...]}, ...}) as one table."""
    rows = []
    for group, result in tests_status.items():
        if not isinstance(result, dict):
            continue
        for outcome, cls in (("success", "resolved"), ("failure", "unresolved")):
            for test in result.get(outcome) or []:
                label = "pass" if outcome == "success" else "fail"
                rows.append(f'<tr><td>{escape(str(group))}</td><td><code>{escape(str(test))}</code></td>'
                            f'<td><span class="badge {cls}">{label}</span></td></tr>')
    if not rows:
        return ""
    failed = sum('"badge unresolved"' in r for r in rows)
    table = f'<table class="tests"><tr><th>group</th><th>test</th><th>result</th></tr>{"".join(rows)}</table>'
    opened = " open" if len(rows) <= 10 else ""
    return (f"<details class=\"tests\"{opened}><summary>{len(rows)} tests: {len(rows) - failed} pass, {failed} fail"
            f"</summary>{table}</details>")


def _grade_html(grade: dict | None, kind: str) -> str:
    if grade is None:
        why = {"expert": "the source record has no resolved flag", "predictions": "predictions are not graded here"}
        return f'<p class="meta">not graded ({why.get(kind, "the run did not grade")})</p>'
    rows = []
    for key, value in grade.items():
        if key in ("tests_status", "test_output", "schema") or value in (None, "", {}, []):
            continue
        if isinstance(value, float):
            value = round(value, 2)
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append(f"<tr><th>{escape(str(key))}</th><td>{escape(text)}</td></tr>")
    out = f'<table class="grade">{"".join(rows)}</table>' + _tests_html(grade.get("tests_status") or {})
    if grade.get("test_output"):
        out += f"<details><summary>test output</summary><pre>{escape(grade['test_output'])}</pre></details>"
    return out


def _patches_html(trace: Trace) -> str:
    final = f'<div><div class="label">final patch · {patch_stat(trace.patch)}</div>{patch_html(trace.patch)}</div>'
    if trace.gold_patch is None:
        gold = '<div><div class="label">gold patch</div><p class="meta">(not known for this task)</p></div>'
    else:
        gold = (f'<div><div class="label">gold patch · {patch_stat(trace.gold_patch)}</div>'
                f'{patch_html(trace.gold_patch, cls="gold")}</div>')
    return f'<div class="pair patches">{final}{gold}</div>'


def _meta_line(trace: Trace, kind: str) -> str:
    parts = [escape(trace.model)] if trace.model else []
    if kind == "eval":
        stop = escape(trace.stop_reason) + (f" ({escape(trace.stop_detail)})" if trace.stop_detail else "")
        parts += [f"{len(trace.steps)} steps", f"stop: {stop}", f"{trace.format_errors} format errors",
                  f"{trace.wall_seconds:.1f}s"]
    else:
        src = trace.meta.get("source") or {}
        parts += [f"{len(trace.steps)} steps"] if kind == "expert" else []
        parts += [f"source: {escape(str(src.get('file', '')))} record {escape(str(src.get('index', '')))}"] if src else []
        if trace.meta.get("exit_status"):
            parts.append(f"exit status: {escape(str(trace.meta['exit_status']))}")
    return " · ".join(parts)


def task_html(trace: Trace, n: int, name: str, kind: str, prompts: PromptTable) -> str:
    sid = f"task-{n}"
    expert = kind == "expert"
    shared = trace.problem_statement
    steps = "".join(step_html(s, f"{n}.{i}", expert=expert, prompts=prompts, shared=shared)
                    for i, s in enumerate(trace.steps))
    tools = (f'<div class="tools"><button data-expand="1" data-target="{sid}">expand all</button>'
             f'<button data-expand="0" data-target="{sid}">collapse all</button></div>') if trace.steps else ""
    problem = (f"<details><summary>problem statement</summary><pre>{escape(trace.problem_statement)}</pre></details>"
               if trace.problem_statement else "")
    return (f'<section class="task unit" data-group="1" id="{sid}" data-status="{trace.status}" '
            f'data-steps="{len(trace.steps)}"><h2>{escape(name)} <span class="badge {trace.status}">{trace.status}'
            f'</span></h2><div class="meta">{_meta_line(trace, kind)}</div>{problem}{tools}'
            f'<ol class="timeline">{steps}</ol>{_patches_html(trace)}'
            f'<div class="label">grade</div>{_grade_html(trace.grade and trace.grade.to_dict(include_output=True), kind)}</section>')


def _mean_reward(trace: Trace) -> float | None:
    rewards = [s.reward for s in trace.steps if s.reward is not None]
    return sum(rewards) / len(rewards) if rewards else None


def _cards(traces: Sequence[Trace], summary: dict | None, kind: str) -> str:
    from srl_agent.eval.evaluation import wilson_interval

    counts = Counter(t.status for t in traces)
    graded = counts["resolved"] + counts["unresolved"]
    label = "resolved / graded"
    if graded:
        lo, hi = wilson_interval(counts["resolved"], graded)
        label += f" ({pct(counts['resolved'] / graded)}, 95% CI {pct(lo)}–{pct(hi)})"
    cards = [(str(len(traces)), _NOUN[kind]), (f"{counts['resolved']} / {graded}", label)]
    if counts["ungraded"]:
        why = {"expert": "no resolved flag in the source", "predictions": "not graded here"}.get(kind, "not graded")
        cards.append((str(counts["ungraded"]), f"ungraded ({why})"))
    if counts["error"]:
        cards.append((str(counts["error"]), "grading failed (infrastructure error)"))
    for k, v in sorted((summary or {}).get("pass_at_k", {}).items()):
        cards.append((pct(v), f"pass@{k}"))
    n_steps = sum(len(t.steps) for t in traces)
    if kind != "predictions":
        cards.append((f"{n_steps / len(traces):.1f}" if traces else "–", "mean steps"))
    if kind == "eval":
        fmt = sum(t.format_errors for t in traces)
        cards.append((pct(fmt / n_steps) if n_steps else "–", "format errors (of steps)"))
    else:
        with_gold = sum(t.gold_patch is not None for t in traces)
        cards.append((f"{sum(bool(t.patch.strip()) for t in traces)}", "with a final patch"))
        cards.append((str(with_gold), "with a known gold patch"))
    rewards = [r for r in (_mean_reward(t) for t in traces) if r is not None]
    if rewards:
        cards.append((f"{sum(rewards) / len(rewards):.3f}", "mean step reward vs. expert"))
    return cards_html(cards)


def _columns(traces: Sequence[Trace], kind: str) -> list[tuple[str, object]]:
    """(header, cell function) of the table, chosen by the kind of run and what the traces hold."""
    badge = ("status", lambda t: f'<span class="badge {t.status}">{t.status}</span>')
    steps = ("steps", lambda t: str(len(t.steps)))
    patch = ("final patch", lambda t: escape(patch_stat(t.patch)))
    if kind == "predictions":
        return [("model", lambda t: escape(t.model)), badge, patch]
    if kind == "expert":
        cols = [("source", lambda t: escape(source_label(t))),
                ("format", lambda t: escape(str((t.meta.get("source") or {}).get("format", "")))), badge, steps,
                ("tools", lambda t: escape(", ".join(f"{k} {v}" for k, v in Counter(
                    describe(s.action, s.tool, expert=True).name for s in t.steps).most_common(4)))), patch]
    else:
        cols = [badge, steps, ("format errors", lambda t: str(t.format_errors)),
                ("stop", lambda t: escape(t.stop_reason)), ("seconds", lambda t: f"{t.wall_seconds:.1f}")]
        if any(t.sample for t in traces):
            cols.insert(0, ("sample", lambda t: str(t.sample)))
    if any(_mean_reward(t) is not None for t in traces):
        cols.append(("mean step reward", lambda t: "–" if _mean_reward(t) is None else f"{_mean_reward(t):.3f}"))
    return cols


def _table(traces: Sequence[Trace], names: Sequence[str], kind: str) -> str:
    cols = _columns(traces, kind)
    head = "".join(f"<th>{escape(h)}</th>" for h, _ in cols)
    rows = "".join(f'<tr data-target="task-{n}" data-status="{t.status}"><td><a href="#task-{n}">{escape(name)}</a>'
                   f'</td>{"".join(f"<td>{cell(t)}</td>" for _, cell in cols)}</tr>'
                   for n, (t, name) in enumerate(zip(traces, names)))
    first = {"eval": "task", "expert": "trajectory", "predictions": "instance"}[kind]
    return f"<table id=tasks><tr><th>{first}</th>{head}</tr>{rows}</table>"


def render_html(traces: Sequence[Trace], *, title: str = "srl-agent traces", summary: dict | None = None,
                kind: str | None = None, notes: Sequence[str] = (), subtitle: str | None = None) -> str:
    """The whole page for these traces (a run, expert trajectories or predictions); `notes` are shown on top
    (what was rejected on import, what was left out)."""
    kind = kind or trace_kind(traces)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    names = trace_names(traces)
    prompts = PromptTable()
    counts = {s: sum(t.status == s for t in traces) for s in STATUSES}
    body = "".join(task_html(t, n, name, kind, prompts) for n, (t, name) in enumerate(zip(traces, names)))
    sub = subtitle if subtitle is not None else (summary or {}).get("model", "")
    content = (f"{notes_html(notes)}{_cards(traces, summary, kind)}"
               f"{bar_html(counts, len(traces), 'search ids, actions, thoughts, observations')}"
               f"{_table(traces, names, kind)}{body}")
    return page(title, sub, content, prompts)
