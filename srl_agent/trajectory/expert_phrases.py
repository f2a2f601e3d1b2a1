"""The scripted expert's thoughts: several natural wordings per kind of step, picked by a seeded RNG and filled
with the facts of the task (symbol, file, line, error), so generated trajectories do not read as one template."""

from __future__ import annotations

import random

PHRASES: dict[str, list[str]] = {
    "ls": [
        "Let me start by getting an overview of the repository layout.",
        "First I want to see what this repository looks like.",
        "I'll look at the top level of the repo before digging in.",
        "The issue is about `{symbol}` in {package}. Let me see how the project is organised.",
        "Before touching anything, a quick look at the files in the repository.",
    ],
    "find": [
        "Let me list the Python modules so I know where the library code lives.",
        "I'd like to see which Python files make up the package.",
        "Next, the Python sources, to see where `{symbol}` could be defined.",
    ],
    "grep_def": [
        "The report is about `{qualified}`. Let me find where `{symbol}` is defined.",
        "I need the definition of `{symbol}`; grep should find it quickly.",
        "Let me search the source for the definition of `{symbol}`.",
        "The issue names `{qualified}`, so I'll locate `{symbol}` in the package.",
        "Where is `{symbol}` implemented? A grep over the sources will tell.",
    ],
    "grep_helper": [
        "`{symbol}` relies on `{helper}`, and the logic the issue points at is there. Let me see where `{helper}` is used.",
        "The behaviour comes from `{helper}` rather than from `{symbol}` itself; let me find its references in {file}.",
        "Let me check how `{helper}` is wired into {file}, since `{symbol}` goes through it.",
    ],
    "view": [
        "`{symbol}` is in {file}. Let me read the code around line {line}.",
        "Let me open {file} around line {line} and read the implementation.",
        "The relevant code should be in {file} near line {line}; let me view it.",
        "I'll look at the implementation in {file} (lines {start}-{end}).",
    ],
    "view_helper": [
        "The check in `{symbol}` looks fine; the problem may be in `{helper}`. Let me look at {file} around line {line}.",
        "Let me read `{helper}` in {file}, since `{symbol}` calls into it.",
    ],
    "create_repro": [
        "Before changing anything I want to reproduce the problem. I'll put the example from the issue in a script.",
        "Let me write a small script with the snippet from the report so I can see the failure myself.",
        "I'll reproduce the issue first, using the inputs given in the report.",
        "A reproduction script will tell me whether I am looking at the right thing. Let me write one from the issue's example.",
    ],
    "create_repro_setup": [
        "Let me reproduce this first. The snippet in the issue needs some setup, so the script will define the inputs "
        "it uses and then run the failing call.",
        "I'll write a reproduction script: the example from the report, plus the data and helpers it refers to.",
        "Before touching the code, a reproduction: the issue's check with the values it depends on.",
    ],
    "create_repro_pytest": [
        "The snippet in the issue depends on test fixtures, so I'll reproduce the scenario through the existing tests of `{symbol}`.",
        "The example in the report is not self-contained; a small script that runs the matching test scenario will reproduce it.",
    ],
    "run_repro_before": [
        "Now let me run the reproduction script.",
        "Let me run it and confirm the failure.",
        "Running the script to see the failure with my own eyes.",
        "Let me execute the script; I expect it to fail as in the report.",
    ],
    "tests_before": [
        "Let me also run the related tests to see what currently fails.",
        "Before the fix, I'd like to know which tests in {tests} fail.",
        "Let me run the tests for this module to get a baseline.",
    ],
    "fix": [
        "{confirm}The bug is on line {line}: `{old}` should be `{new}`. Let me fix it.",
        "{confirm}Reading the code, `{old}` is wrong here; it has to be `{new}`. I'll make that change.",
        "{confirm}I see the problem now: line {line} has `{old}` where it should have `{new}`.",
        "{confirm}The culprit is `{old}` on line {line}. Replacing it with `{new}` should give the documented behaviour.",
    ],
    "fix_add": [
        "{confirm}The code is missing a case here: `{new}` must be handled before the rest of the function runs. Let me add it back.",
        "{confirm}There is no branch for `{new}` around line {line}, which explains the result in the report. I'll add it.",
    ],
    "fix_more": [
        "There is a second place in {file} with the same kind of problem; let me fix it too.",
        "One more spot in {file} needs the matching change.",
    ],
    "view_after": [
        "Let me double-check the edited region.",
        "Let me look at the edit once more in context.",
    ],
    "git_diff": [
        "Let me review the full diff of my change.",
        "A quick look at `git diff` to make sure only the intended lines changed.",
    ],
    "run_repro_after": [
        "Now let me rerun the reproduction script.",
        "Let me run the script again to check the fix.",
        "With the change in place, the reproduction should pass now.",
        "Rerunning the reproduction to confirm the fix.",
    ],
    "tests_targeted": [
        "The script passes. Let me run the tests that exercise `{symbol}` first.",
        "Good. Now the relevant tests, selected by name.",
    ],
    "tests_after": [
        "The reproduction passes now. Let me run the test module to make sure nothing else broke.",
        "That works. Let me run the tests in {tests} to check for regressions.",
        "Fixed. Now the existing tests for this code, to be sure the change is safe.",
        "Let me run the related test file(s) to verify the fix doesn't break anything.",
    ],
    "cleanup": [
        "All tests pass. Let me remove the reproduction script so it is not part of the patch.",
        "Everything passes. I'll delete the temporary script before submitting.",
        "Tests are green. Cleaning up the reproduction script.",
    ],
    "submit": [
        "The fix is minimal and the tests pass. Submitting.",
        "Done: the issue's example works and the tests pass. Let me submit.",
        "I'm confident in the change; submitting it.",
        "The bug is fixed and verified. Submitting the patch.",
    ],
}

CONFIRM = {
    "fail": ["The script fails with {error_kind}, just like the report. ", "Reproduced: {error_kind}. ",
             "I can see the failure ({error_kind}). ", ""],
    "none": ["", ""],
}


class _Defaults(dict):
    def __missing__(self, key: str) -> str:
        return ""


def say(rng: random.Random, kind: str, **facts: object) -> str:
    """One thought of `kind`, its wording chosen by `rng` and filled with `facts`."""
    text = rng.choice(PHRASES[kind])
    if "{confirm}" in text:
        facts.setdefault("confirm", rng.choice(CONFIRM["fail" if facts.get("reproduced") else "none"])
                         .format_map(_Defaults(facts)))
    return text.format_map(_Defaults({k: str(v) for k, v in facts.items()}))
