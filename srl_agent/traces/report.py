"""What `srl traces view` renders: the View of any input (an eval run, a trace, `srl eval-steps` outputs, expert
trajectories in any importable format, SWE-bench predictions) with the expert's actions and the gold patches added,
as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from srl_agent.errors import ConfigError
from srl_agent.prompts import PromptConfig
from srl_agent.traces.loaders import View, add_tasks, expert_actions_any, load_view


def load_report(path: str | Path, *, expert: str | Path | None = None, tasks: str | None = None,
                fmt: str | None = None, context_rounds: int = 2, limit: int | None = None) -> View:
    """The View for `path` (see srl_agent.traces.loaders), annotated with the expert's actions (`expert`) and
    the tasks' gold patches (`tasks`), cut to the first `limit` traces."""
    view = load_view(path, fmt=fmt, prompt=PromptConfig(context_rounds=context_rounds))
    if expert is not None:
        if view.kind == "steps":
            raise ConfigError("--expert: eval-steps results already hold the expert action of every example")
        from srl_agent.trajectory.to_trace import annotate

        actions = expert_actions_any(expert)
        for trace in view.traces:
            annotate(trace, actions.get(trace.instance_id))
        if not any(t.instance_id in actions for t in view.traces):
            view.notes.append(f"--expert {expert}: no trajectory there has an instance_id of these traces")
    if tasks is not None:
        if view.kind == "steps":
            raise ConfigError("--tasks: eval-steps results have no final patch to compare with a gold patch")
        if not add_tasks(view, tasks):
            view.notes.append(f"--tasks {tasks}: no task there has an instance_id of these traces")
    return view.limit(limit)


def render(view: View, title: str | None = None) -> str:
    if view.kind == "steps":
        from srl_agent.traces.steps_view import render_steps_html

        return render_steps_html(view.results, title=title or view.title, summary=view.summary, notes=view.notes)
    from srl_agent.traces.viewer import render_html

    return render_html(view.traces, title=title or view.title, summary=view.summary, kind=view.kind, notes=view.notes)


def write_report_to(out: Path, path: str | Path, *, expert: str | Path | None = None, title: str | None = None,
                    **kw) -> Path:
    """Render `path` to one HTML file at `out`, an output path already checked (keywords as load_report)."""
    view = load_report(path, expert=expert, **kw)
    out.write_text(render(view, title), encoding="utf-8")
    return out
