"""The trace viewer: one self-contained HTML page (inline CSS and JS, no network) for a run or trajectory file.

Everything from a trace is escaped (outputs and observations may contain HTML); the only markup is ours.
"""

from __future__ import annotations

import difflib
import json
from html import escape
from typing import Sequence

from srl_agent.actions import FormatError, parse_call
from srl_agent.traces.schema import Trace, TraceStep

LONG_OBSERVATION_CHARS = 1200
LONG_OBSERVATION_LINES = 20
MAX_DIFF_CHARS = 6000  # char-level SequenceMatcher is quadratic; longer pairs are shown without highlight
STATUSES = ("resolved", "unresolved", "error", "ungraded")

_CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#667085;--line:#e3e6eb;--ok:#1a7f37;--bad:#b42318;
--warn:#b54708;--blue:#175cd3;--add:#dafbe1;--del:#ffebe9;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,sans-serif}
header{padding:18px 28px;background:#101828;color:#fff}header h1{margin:0;font-size:20px}
header .sub{color:#98a2b3;font-size:13px}main{padding:18px 28px;max-width:1400px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:0 0 16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}.card span{color:var(--mute);font-size:12px}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line)}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f2f4f7;font-weight:600;font-size:12px;color:var(--mute)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.resolved{background:#dcfae6;color:var(--ok)}.unresolved{background:#fee4e2;color:var(--bad)}
.error{background:#fef0c7;color:var(--warn)}.ungraded{background:#eaecf0;color:var(--mute)}
.filters{margin:16px 0 10px}.filters button{border:1px solid var(--line);background:var(--card);border-radius:6px;
padding:4px 12px;margin-right:6px;cursor:pointer}.filters button.on{background:var(--blue);color:#fff;border-color:var(--blue)}
section.task{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:20px 0;padding:14px 18px}
section.task h2{margin:0 0 6px;font-size:17px}.meta{color:var(--mute);font-size:13px}
ol.timeline{list-style:none;padding:0;margin:12px 0}
ol.timeline>li{border-left:3px solid var(--line);margin-left:6px;padding:0 0 8px 14px}
ol.timeline>li.bad{border-left-color:var(--bad)}ol.timeline>li.sub{border-left-color:var(--ok)}
details.step>summary{cursor:pointer;padding:4px 0;font-family:var(--mono);font-size:13px;white-space:nowrap;
overflow:hidden;text-overflow:ellipsis}
.step-body{padding:6px 0 6px 4px}.label{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);margin:8px 0 2px}
pre{margin:0;padding:8px 10px;background:#f8f9fb;border:1px solid var(--line);border-radius:6px;
font:12px/1.4 var(--mono);white-space:pre-wrap;word-break:break-word;max-height:520px;overflow:auto}
.think{white-space:pre-wrap;font-style:italic;color:#344054;background:#fcfcfd;border-left:3px solid #d0d5dd;padding:6px 10px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px}.pair.single{grid-template-columns:1fr}
del.d{background:#ffcecb;text-decoration:none}ins.i{background:#aceebb;text-decoration:none}
.cap{font-size:11px;color:var(--mute)}.reward{font-weight:600}.fmt{color:var(--bad);font-weight:600}
pre.diff span{display:block;min-height:1.4em}pre.diff .a{background:var(--add)}pre.diff .r{background:var(--del)}
pre.diff .h{color:var(--blue)}pre.diff .f{font-weight:700}
table.grade th{width:180px}
.tools button{font-size:12px;border:1px solid var(--line);background:var(--card);border-radius:5px;cursor:pointer;margin-right:4px}
"""

_JS = """
(function(){
  var buttons=document.querySelectorAll('.filters button');
  function apply(f){
    buttons.forEach(function(b){b.classList.toggle('on',b.dataset.filter===f);});
    document.querySelectorAll('[data-status]').forEach(function(el){
      el.style.display=(f==='all'||el.dataset.status===f)?'':'none';});
  }
  buttons.forEach(function(b){b.addEventListener('click',function(){apply(b.dataset.filter);});});
  document.querySelectorAll('button[data-expand]').forEach(function(b){
    b.addEventListener('click',function(){
      var sec=document.getElementById(b.dataset.target), open=b.dataset.expand==='1';
      sec.querySelectorAll('details.step').forEach(function(d){d.open=open;});});
  });
})();
"""


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def char_diff(a: str, b: str) -> tuple[str, str]:
    """HTML of `a` and `b` with the characters that differ marked (difflib opcodes as spans)."""
    if len(a) > MAX_DIFF_CHARS or len(b) > MAX_DIFF_CHARS:
        return escape(a), escape(b)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(escape(a[i1:i2]))
            right.append(escape(b[j1:j2]))
            continue
        if i2 > i1:
            left.append(f'<del class="d">{escape(a[i1:i2])}</del>')
        if j2 > j1:
            right.append(f'<ins class="i">{escape(b[j1:j2])}</ins>')
    return "".join(left), "".join(right)


def patch_html(patch: str) -> str:
    if not patch.strip():
        return '<p class="meta">(empty patch)</p>'
    out = []
    for line in patch.splitlines():
        cls = ("f" if line.startswith(("diff ", "+++", "---", "index ", "new file")) else
               "h" if line.startswith("@@") else "a" if line.startswith("+") else "r" if line.startswith("-") else "c")
        out.append(f'<span class="{cls}">{escape(line)}</span>')
    return '<pre class="diff">' + "".join(out) + "</pre>"


def _observation_html(text: str) -> str:
    if len(text) > LONG_OBSERVATION_CHARS or text.count("\n") > LONG_OBSERVATION_LINES:
        return (f'<details class="obs"><summary>observation ({text.count(chr(10)) + 1} lines, '
                f'{len(text)} chars)</summary><pre>{escape(text)}</pre></details>')
    return f"<pre>{escape(text)}</pre>"


def _action_brief(action_text: str) -> str:
    """One line for a step's summary: the tool and its main arguments, not the XML."""
    try:
        action = parse_call(action_text, tools=None)
    except FormatError:
        return action_text.replace("\n", " ")[:160]
    if action.tool == "str_replace_editor":
        return f"{action.args.get('command', '')} {action.args.get('path', '')}"
    return " ".join(v.replace("\n", " ⏎ ") for v in action.args.values())[:160]


def _summary_line(step: TraceStep) -> str:
    if step.format_error is not None:
        what = f'<span class="fmt">format error</span> {escape(step.format_error)}'
    else:
        what = f"<b>{escape(step.tool or '?')}</b> {escape(_action_brief(step.action or ''))}"
    reward = f' · <span class="reward">r={step.reward:.2f}</span>' if step.reward is not None else ""
    return f"#{step.index + 1} · {what}{reward}"


def step_html(step: TraceStep) -> str:
    parts = []
    if step.think:
        parts.append(f'<div class="label">monologue</div><div class="think">{escape(step.think.strip())}</div>')
    if step.format_error is not None:
        parts.append(f'<div class="label">raw output (malformed: {escape(step.format_error)})</div>'
                     f"<pre>{escape(step.raw_output)}</pre>")
    if step.expert_action is not None:
        mine, theirs = char_diff(step.action or "", step.expert_action)
        mine = mine or '<span class="meta">(no action: the output was malformed)</span>'
        reward = "" if step.reward is None else f' · step reward <span class="reward">{step.reward:.3f}</span>'
        parts.append(f'<div class="label">action vs. expert action{reward}</div><div class="pair">'
                     f'<div><div class="cap">student</div><pre class="mine">{mine}</pre></div>'
                     f'<div><div class="cap">expert</div><pre class="expert">{theirs}</pre></div></div>')
    elif step.action is not None:
        parts.append(f'<div class="label">action</div><pre class="mine">{escape(step.action)}</pre>')
    extra = f" · exit {step.exit_code}" if step.exit_code is not None else ""
    extra += " · timed out" if step.timed_out else ""
    parts.append(f'<div class="label">observation{extra}</div>{_observation_html(step.observation)}')
    cls = "bad" if step.format_error is not None else ("sub" if step.tool == "submit" else "")
    return (f'<li class="{cls}"><details class="step" data-index="{step.index}">'
            f"<summary>{_summary_line(step)}</summary><div class=\"step-body\">{''.join(parts)}</div></details></li>")


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


def _grade_html(grade: dict | None) -> str:
    if grade is None:
        return '<p class="meta">not graded</p>'
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


def task_html(trace: Trace, n: int) -> str:
    sid = f"task-{n}"
    steps = "".join(step_html(s) for s in trace.steps)
    sample = f" · sample {trace.sample}" if trace.sample else ""
    stop = f"{escape(trace.stop_reason)}" + (f" ({escape(trace.stop_detail)})" if trace.stop_detail else "")
    return (f'<section class="task" id="{sid}" data-status="{trace.status}" data-steps="{len(trace.steps)}">'
            f'<h2>{escape(trace.instance_id)}{sample} <span class="badge {trace.status}">{trace.status}</span></h2>'
            f'<div class="meta">{escape(trace.model)} · {len(trace.steps)} steps · stop: {stop} · '
            f"{trace.format_errors} format errors · {trace.wall_seconds:.1f}s</div>"
            f"<details><summary>problem statement</summary><pre>{escape(trace.problem_statement)}</pre></details>"
            f'<div class="tools"><button data-expand="1" data-target="{sid}">expand all</button>'
            f'<button data-expand="0" data-target="{sid}">collapse all</button></div>'
            f'<ol class="timeline">{steps}</ol>'
            f'<div class="label">final patch</div>{patch_html(trace.patch)}'
            f'<div class="label">test results</div>{_grade_html(trace.grade)}</section>')


def _mean_reward(trace: Trace) -> float | None:
    rewards = [s.reward for s in trace.steps if s.reward is not None]
    return sum(rewards) / len(rewards) if rewards else None


def _cards(traces: Sequence[Trace], summary: dict | None) -> str:
    graded = [t for t in traces if t.resolved is not None]
    rate = sum(bool(t.resolved) for t in graded) / len(graded) if graded else None
    cards = [(str(len(traces)), "episodes"), (_pct(rate), "resolved")]
    if summary and summary.get("ci95"):
        lo, hi = summary["ci95"]
        cards[-1] = (_pct(rate), f"resolved (95% CI {_pct(lo)}–{_pct(hi)})")
    for k, v in sorted((summary or {}).get("pass_at_k", {}).items()):
        cards.append((_pct(v), f"pass@{k}"))
    n_steps = sum(len(t.steps) for t in traces)
    cards.append((f"{n_steps / len(traces):.1f}" if traces else "–", "mean steps"))
    fmt = sum(t.format_errors for t in traces)
    cards.append((_pct(fmt / n_steps) if n_steps else "–", "format errors"))
    rewards = [r for r in (_mean_reward(t) for t in traces) if r is not None]
    if rewards:
        cards.append((f"{sum(rewards) / len(rewards):.3f}", "mean step reward vs. expert"))
    return '<div class="cards">' + "".join(f"<div class=card><b>{escape(v)}</b><span>{escape(k)}</span></div>"
                                            for v, k in cards) + "</div>"


def _table(traces: Sequence[Trace]) -> str:
    rows = []
    for n, t in enumerate(traces):
        r = _mean_reward(t)
        rows.append(f'<tr class="task-row" data-status="{t.status}"><td><a href="#task-{n}">{escape(t.instance_id)}</a>'
                    f'</td><td>{t.sample}</td><td><span class="badge {t.status}">{t.status}</span></td>'
                    f"<td>{len(t.steps)}</td><td>{t.format_errors}</td><td>{escape(t.stop_reason)}</td>"
                    f"<td>{'–' if r is None else f'{r:.3f}'}</td></tr>")
    return ("<table id=tasks><tr><th>task</th><th>sample</th><th>status</th><th>steps</th><th>format errors</th>"
            f"<th>stop</th><th>mean step reward</th></tr>{''.join(rows)}</table>")


def render_html(traces: Sequence[Trace], *, title: str = "srl-agent traces", summary: dict | None = None) -> str:
    """The whole page for these traces (a run, or a trajectory file rendered as traces)."""
    counts = {s: sum(t.status == s for t in traces) for s in STATUSES}
    filters = [f'<button class="on" data-filter="all">all ({len(traces)})</button>']
    filters += [f'<button data-filter="{s}">{s} ({counts[s]})</button>' for s in STATUSES if counts[s]]
    sub = escape(summary.get("model", "")) if summary else ""
    body = "".join(task_html(t, n) for n, t in enumerate(traces))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            '<link rel=icon href="data:,">'
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f'<header><h1>{escape(title)}</h1><div class="sub">{sub}</div></header><main>'
            f"{_cards(traces, summary)}<div class=filters>{''.join(filters)}</div>{_table(traces)}{body}"
            f"</main><script>{_JS}</script></body></html>")
