"""Step counts read straight from each source format's own definition, never through the importers.

Each counter says, for every record of a real file, how many expert actions the format records (or None when the
format says the record holds no environment action, so it must be rejected). The tests compare these with what
the importers produce.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# mini-swe-agent ends a run with `echo <MARKER>`; `cleanup && echo <MARKER>` is two actions (cleanup, then submit).
MINI_MARKER = re.compile(r"echo (MINI_SWE_AGENT_FINAL_OUTPUT|COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT|"
                         r"NANO_SWE_AGENT_FINAL_OUTPUT)")
# OpenHands action types that are steps of the agent (its ActionType values that run in the sandbox, the
# `think` tool, and the end of the episode); messages, delegation, state changes and `initialize` are not.
OPENHANDS_STEP_ACTIONS = {"run", "run_ipython", "read", "write", "edit", "browse", "browse_interactive", "think",
                          "finish", "reject"}
OPENHANDS_NOT_ENVIRONMENT = {"think", "finish", "reject"}


def _rows(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    value = json.loads(text)
    return value if isinstance(value, list) else [value]


def _mini_command_actions(cmd: str) -> int:
    hit = MINI_MARKER.search(cmd)
    return 2 if hit and cmd[:hit.start()].rstrip().endswith(("&&", ";")) else 1


def mini_swe_agent(path: Path) -> list[int | None]:
    """v1: an assistant message with a fenced block is one action; v2: each `tool_calls` entry is one."""
    value = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(value, dict):
        convs = [value["messages"]]
    elif value and isinstance(value[0], dict) and "role" in value[0]:
        convs = [value]
    else:
        convs = [r["messages"] for r in value]
    counts = []
    for msgs in convs:
        n = 0
        for m in msgs:
            if m["role"] != "assistant":
                continue
            if m.get("tool_calls"):
                n += sum(_mini_command_actions(json.loads(c["function"]["arguments"])["command"])
                         for c in m["tool_calls"])
            elif "```" in (m.get("content") or ""):
                n += _mini_command_actions(m["content"])
        counts.append(n)
    return counts


def openhands_events(events: list) -> int | None:
    kinds = [e["action"] for e in events if isinstance(e, dict) and isinstance(e.get("action"), str)
             and e.get("source") != "environment" and e["action"] in OPENHANDS_STEP_ACTIONS]
    if not any(k not in OPENHANDS_NOT_ENVIRONMENT for k in kinds):
        return None
    return len(kinds)


def openhands(path: Path) -> list[int | None]:
    rows = _rows(path)
    if rows and isinstance(rows[0], dict) and ("action" in rows[0] or "observation" in rows[0]):
        return [openhands_events(rows)]
    return [openhands_events([e for item in r.get("history", r.get("trajectory", []))
                              for e in (item if isinstance(item, list) else [item])]) for r in rows]


def xml_messages(path: Path) -> list[int | None]:
    """SWE-smith / OpenHands SFT: an assistant (ShareGPT: gpt) message with a `<function=` call is one action."""
    counts = []
    for r in _rows(path):
        msgs = r.get("messages")
        if isinstance(msgs, str):
            msgs = json.loads(msgs)
        if msgs is None:
            msgs = [{"role": {"gpt": "assistant"}.get(m["from"], m["from"]), "content": m["value"]}
                    for m in r["conversations"]]
        counts.append(sum(1 for m in msgs if m["role"] == "assistant" and "<function=" in (m.get("content") or "")))
    return counts


def tool_call_messages(path: Path) -> list[int | None]:
    """SWE-Gym sampled trajectories: every entry of an assistant message's `tool_calls` is one action."""
    return [sum(len(m.get("tool_calls") or []) for m in r["messages"] if m["role"] == "assistant")
            for r in _rows(path)]


def nebius(path: Path) -> list[int | None]:
    """nebius/SWE-agent-trajectories: an `ai` item holding a fenced block is one action."""
    return [sum(1 for t in r["trajectory"] if t["role"] == "ai" and "```" in (t.get("text") or ""))
            for r in _rows(path)]


def swe_agent(path: Path) -> list[int | None]:
    """SWE-agent `.traj`: each `trajectory` item with a non-empty `action` (a history-only file: each assistant
    message with an `action`)."""
    d = json.loads(path.read_text(encoding="utf-8"))
    if "trajectory" in d:
        return [sum(1 for t in d["trajectory"] if t["action"].strip())]
    return [sum(1 for m in d["history"] if m["role"] == "assistant" and m.get("action", "").strip())]


def counter_for(rel: str):
    if rel.endswith(".traj"):
        return swe_agent
    top = rel.split("/", 1)[0]
    return {"mini-swe-agent": mini_swe_agent, "openhands": openhands, "swe-smith": xml_messages,
            "openhands-sft": xml_messages, "swe-gym": tool_call_messages, "nebius": nebius}[top]
