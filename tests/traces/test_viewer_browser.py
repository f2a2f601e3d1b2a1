"""The viewer in real headless Chromium: no console errors and no network, j/k and n/p move the selection,
search and the status filters hide what does not match, the prompt panel shows the exact prompt text."""

from __future__ import annotations

from pathlib import Path

import pytest
from samples import PROMPT, trajectory_file, view_cli, write_run

from srl_agent.actions import Action
from srl_agent.traces.step_results import StepResult

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.errors, page.requests = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def _selected(page) -> str | None:
    """'section/step' of the selected step, e.g. 'task-1/2'."""
    return page.evaluate("""() => { const s = document.querySelector('.sel'); if (!s) return null;
        const u = s.closest('.unit'); return u.id + '/' + (s.dataset.index ?? '-'); }""")


@pytest.fixture
def run_page(browser, tmp_path):
    traces = write_run(tmp_path / "run")
    out = tmp_path / "report.html"
    view_cli(["traces", "view", str(tmp_path / "run"), "-o", str(out), "--expert",
              str(trajectory_file(tmp_path / "expert.jsonl"))])
    page = _open(browser, out)
    yield page, traces
    assert page.errors == []
    assert all(u.startswith(("file:", "data:")) for u in page.requests), page.requests
    assert page.evaluate("() => window.__xss === undefined")
    page.close()


@pytest.mark.browser
def test_j_k_move_between_steps_and_n_p_between_trajectories(run_page):
    page, traces = run_page
    assert _selected(page) is None
    page.keyboard.press("j")
    assert _selected(page) == "task-0/0"
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert _selected(page) == "task-0/2"
    page.keyboard.press("k")
    assert _selected(page) == "task-0/1"
    for _ in range(len(traces[0].steps)):
        page.keyboard.press("j")
    assert _selected(page) == "task-1/1"  # j runs on into the next trajectory
    page.keyboard.press("p")
    assert _selected(page) == "task-0/0"
    page.keyboard.press("n")
    assert _selected(page) == "task-1/0"
    step = page.locator("#task-1 details.step").first
    assert step.get_attribute("open") is None
    page.keyboard.press("o")
    assert step.get_attribute("open") is not None and step.locator(".think").is_visible()
    page.keyboard.press("o")
    assert step.get_attribute("open") is None


@pytest.mark.browser
def test_the_prompt_panel_shows_the_exact_prompt(run_page):
    page, traces = run_page
    for _ in range(2):
        page.keyboard.press("j")
    assert _selected(page) == "task-0/1"
    page.keyboard.press("i")  # opens the step and its prompt panel
    panel = page.locator("#task-0 details.step").nth(1).locator(".prompt")
    assert panel.is_visible()
    roles = page.evaluate("""() => Array.from(document.querySelectorAll('#task-0 details.step')[1]
        .querySelectorAll('.prompt .msg')).map(m => m.dataset.role)""")
    assert roles == [m["role"] for m in PROMPT]
    system = panel.locator(".msg.system")
    assert system.locator("summary").inner_text() == f"SYSTEM ({len(PROMPT[0]['content'])} CHARS)"  # folded
    assert system.locator("pre.content").is_hidden() and panel.locator(".msg.user pre.content").first.is_visible()
    contents = page.evaluate("""() => Array.from(document.querySelectorAll('#task-0 details.step')[1]
        .querySelectorAll('.prompt pre.content')).map(p => p.textContent)""")
    assert contents == [m["content"] for m in PROMPT] == [m["content"] for m in traces[0].steps[1].prompt]
    page.keyboard.press("i")
    assert panel.is_hidden()
    button = page.locator("#task-1 details.step").first.locator("button.show-prompt")
    page.locator("#task-1 details.step").first.locator("> summary").click()
    button.click()
    texts = page.locator("#task-1 details.step").first.locator(".prompt pre.content").all_text_contents()
    assert texts == [m["content"] for m in traces[1].steps[0].prompt]


@pytest.mark.browser
def test_status_filter_and_search_hide_what_does_not_match(run_page):
    page, _ = run_page
    sections, rows = page.locator("section.task"), page.locator("#tasks tr[data-target]")
    page.locator('button[data-filter="unresolved"]').click()
    assert sections.nth(0).is_hidden() and sections.nth(1).is_visible()
    assert rows.nth(0).is_hidden() and rows.nth(1).is_visible()
    assert page.locator("#shown").inner_text() == "showing 1 of 2"
    page.keyboard.press("j")
    assert _selected(page) == "task-1/0"  # navigation skips what is hidden
    page.locator('button[data-filter="all"]').click()
    assert sections.nth(0).is_visible()

    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "q"
    page.keyboard.type("demo__calc-2")
    page.wait_for_function("() => document.getElementById('shown').textContent === 'showing 1 of 2'")
    assert sections.nth(0).is_hidden() and sections.nth(1).is_visible() and rows.nth(0).is_hidden()
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.getElementById('shown').textContent === 'showing 2 of 2'")
    page.locator("#q").fill("could not be parsed")
    page.wait_for_function("() => document.querySelectorAll('details.step.hit').length === 2")
    assert page.locator("#task-0 details.step").nth(1).get_attribute("class") == "step hit"
    page.locator("#q").fill("no such text anywhere")
    page.wait_for_function("() => document.getElementById('shown').textContent === 'showing 0 of 2'")
    assert sections.nth(0).is_hidden() and sections.nth(1).is_hidden()
    page.locator("#q").fill("")
    page.wait_for_function("() => document.getElementById('shown').textContent === 'showing 2 of 2'")

    first = sections.first
    first.locator('button[data-expand="1"]').click()
    assert first.locator("details.step[open]").count() == 4
    first.locator('button[data-expand="0"]').click()
    first.locator("details.step").first.locator("> summary").click()
    assert first.locator("details.step").first.locator("pre.mine del.d").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)
    assert (ARTIFACTS / "viewer.png").stat().st_size > 10_000


def _results() -> list[StepResult]:
    prompt = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task </script> text"}]
    ok = Action.bash("ls").render()
    return [StepResult(0, prompt, "<think>\nx\n</think>\n" + ok, ok, 1.0, think="x", action=ok, action_tool="bash",
                       instance_id="a", step_index=0, num_steps=2, tool="bash"),
            StepResult(1, prompt + [{"role": "assistant", "content": ok}], "junk", Action.submit().render(), -1.0,
                       format_error="output must start with <think>", instance_id="a", step_index=1, num_steps=2,
                       tool="submit"),
            StepResult(2, prompt, "<think>\ny\n</think>\n" + Action.bash("ls -l").render(), ok, 0.9,
                       action=Action.bash("ls -l").render(), action_tool="bash", instance_id="b", step_index=0,
                       num_steps=1, tool="bash")]


@pytest.mark.browser
def test_step_level_page_of_eval_steps_results(browser, tmp_path):
    import json

    results = _results()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "examples.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in results))
    view_cli(["traces", "view", str(tmp_path / "out"), "-o", str(tmp_path / "steps.html")])
    page = _open(browser, tmp_path / "steps.html")
    cards = page.locator("article.example")
    assert cards.count() == 3
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert _selected(page) == "ex-1/1"
    page.keyboard.press("n")
    assert _selected(page) == "ex-2/2"  # the next trajectory's first example
    page.keyboard.press("k")
    page.keyboard.press("i")
    texts = cards.nth(1).locator(".prompt pre.content").all_text_contents()
    assert texts == [m["content"] for m in results[1].prompt]
    page.locator('button[data-filter="malformed"]').click()
    assert cards.nth(0).is_hidden() and cards.nth(1).is_visible() and cards.nth(2).is_hidden()
    page.locator('button[data-filter="all"]').click()
    page.locator("#q").fill("ls -l")
    page.wait_for_function("() => document.getElementById('shown').textContent === 'showing 1 of 3'")
    assert cards.nth(2).is_visible() and cards.nth(0).is_hidden()
    assert page.errors == [] and all(u.startswith(("file:", "data:")) for u in page.requests)
    page.close()
