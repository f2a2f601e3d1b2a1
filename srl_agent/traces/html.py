"""Parts every viewer page shares: the page shell (inline CSS/JS), cards, the filter/search bar, diffs, patches,
and the prompt table (each step's exact prompt, stored once per distinct string and shown on demand).

Everything that comes from data is escaped here or set as text by the script; the only markup is ours.
"""

from __future__ import annotations

import difflib
import json
import os
from html import escape
from importlib import resources
from typing import Iterable, Sequence

MAX_DIFF_CHARS = 6000  # char-level SequenceMatcher is quadratic; longer pairs are shown without highlight
KEYS_HELP = (("j", "k", "next / previous step"), ("n", "p", "next / previous trajectory"), ("o", "", "open step"),
             ("i", "", "show the prompt"), ("/", "", "search"), ("Esc", "", "clear"))


def _static(name: str) -> str:
    return resources.files("srl_agent.traces").joinpath("static", name).read_text(encoding="utf-8")


def pct(x: float | None) -> str:
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


def patch_html(patch: str | None, *, cls: str = "") -> str:
    if not (patch or "").strip():
        return '<p class="meta">(empty patch)</p>'
    out = []
    for line in patch.splitlines():
        kind = ("f" if line.startswith(("diff ", "+++", "---", "index ", "new file")) else
                "h" if line.startswith("@@") else "a" if line.startswith("+") else "r" if line.startswith("-") else "c")
        out.append(f'<span class="{kind}">{escape(line)}</span>')
    return f'<pre class="diff {cls}">' + "".join(out) + "</pre>"


def patch_stat(patch: str | None) -> str:
    """'+A -R in F files' of a unified diff, '–' when empty."""
    lines = (patch or "").splitlines()
    if not lines:
        return "–"
    files = sum(line.startswith("diff --git") for line in lines) or sum(line.startswith("+++ ") for line in lines)
    added = sum(line.startswith("+") and not line.startswith("+++") for line in lines)
    removed = sum(line.startswith("-") and not line.startswith("---") for line in lines)
    return f"+{added} −{removed} in {files} file{'s' if files != 1 else ''}"


class PromptTable:
    """Prompts of many steps as one JSON blob: distinct strings once, each message a list of string ids.

    A step's task message is the problem statement plus a note that changes from step to step, so it is cut
    at the shared part (the problem statement when the caller knows it, else the part it has in common with
    the previous prompt's task message); observations repeat across the next K prompts and are shared whole.
    """

    MIN_SHARED = 256

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._ids: dict[str, int] = {}
        self.prompts: dict[str, list] = {}
        self._last_task = ""

    def _id(self, text: str) -> int:
        if text not in self._ids:
            self._ids[text] = len(self.strings)
            self.strings.append(text)
        return self._ids[text]

    def _parts(self, content: str, shared: str) -> list[int]:
        if len(shared) >= self.MIN_SHARED and content.startswith(shared) and content != shared:
            return [self._id(shared), self._id(content[len(shared):])]
        return [self._id(content)]

    def add(self, key: str, messages: Sequence[dict], shared: str | None = None) -> None:
        encoded = []
        for i, m in enumerate(messages):
            content = str(m.get("content", ""))
            common = shared
            if i == 1 and shared is None:
                common = os.path.commonprefix([self._last_task, content])
                self._last_task = content
            encoded.append([str(m.get("role", "?")), self._parts(content, common or "")])
        self.prompts[key] = encoded

    def script(self) -> str:
        if not self.prompts:
            return ""
        data = json.dumps({"s": self.strings, "p": self.prompts}, ensure_ascii=False, separators=(",", ":"))
        # Inside <script>, "</script" or "<!--" in a string would end or change the element: escape every "<".
        data = data.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        return f'<script type="application/json" id="srl-prompts">{data}</script>'


def prompt_button(key: str, messages: Sequence[dict], what: str = "prompt") -> str:
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return (f'<button class="show-prompt" data-prompt="{escape(key)}">{escape(what)} ({len(messages)} messages, '
            f'{chars:,} chars)</button><div class="prompt" hidden></div>')


def cards_html(cards: Iterable[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
                                            for v, k in cards) + "</div>"


def bar_html(counts: dict[str, int], total: int, placeholder: str) -> str:
    """Status filter buttons (only statuses present), the search box, the count shown and the keys."""
    buttons = [f'<button class="on" data-filter="all">all ({total})</button>']
    buttons += [f'<button data-filter="{escape(s)}">{escape(s)} ({n})</button>' for s, n in counts.items() if n]
    keys = " · ".join(f"<kbd>{escape(a)}</kbd>" + (f"/<kbd>{escape(b)}</kbd>" if b else "") + f" {escape(what)}"
                      for a, b, what in KEYS_HELP)
    return (f'<div class="bar"><span class="filters">{"".join(buttons)}</span>'
            f'<input id="q" type="search" placeholder="{escape(placeholder)}" autocomplete="off">'
            f'<span id="shown"></span><span class="keys">{keys}</span></div>')


def notes_html(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    return '<div class="notes">' + "".join(f"<div>{escape(n)}</div>" for n in notes) + "</div>"


def page(title: str, subtitle: str, body: str, prompts: PromptTable | None = None) -> str:
    """The whole self-contained document."""
    data = prompts.script() if prompts is not None else ""
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            '<link rel=icon href="data:,">'
            f"<title>{escape(title)}</title><style>{_static('viewer.css')}</style></head><body>"
            f'<header><h1>{escape(title)}</h1><div class="sub">{escape(subtitle)}</div></header><main>{body}</main>'
            f"{data}<script>{_static('viewer.js')}</script></body></html>")
