"""Regenerate docs/viewer.png: the viewer on the shared corpus, searched for `end_of_edit`, one SWE-agent `edit`
step opened with its SRL prompt. Needs Debian's chromium (scripts/setup_test_extras.sh) and playwright.

    .venv/bin/srl traces view ../shared/corpus -o /tmp/corpus.html
    .venv/bin/python scripts/viewer_screenshot.py /tmp/corpus.html docs/viewer.png
"""

import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright


def main(src: str, out: str) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1360, "height": 1750})
        page.goto(Path(src).resolve().as_uri())
        page.locator("#q").fill("end_of_edit")
        page.wait_for_function("() => !document.getElementById('shown').textContent.endsWith(' 26 of 26')")
        section = page.locator("section.task:not(.hide)").nth(2)
        step = section.locator("details.step").nth(9)
        step.locator("> summary").click()
        step.locator("button.show-prompt").click()
        # Only the opened trajectory below the table: hide the two sections above it.
        page.evaluate("() => document.querySelectorAll('section.task:not(.hide)')"
                      ".forEach((s, i) => { if (i < 2) s.classList.add('hide'); })")
        page.locator("#q").blur()
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=out)
        browser.close()
    Image.open(out).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
