"""FakeRuntime: the in-memory Runtime users test their policies and tools with. Its editor must answer as the
sandbox's editor does, its patch must apply with git, and it must keep the Runtime contract. No Docker."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from srl_agent.actions import Action
from srl_agent.errors import SandboxError, TooLargeError
from srl_agent.sandbox import FakeRuntime, Observation, ResetResult, Runtime
from srl_agent.sandbox.incontainer import editor

START = {"a.py": "x = 1\ny = 2\nx = 1\n", "pkg/b.py": "def f():\n    return 1", "docs/readme.txt": "hello\n",
         ".hidden/secret": "s\n"}


def _edits(root: str) -> list[Action]:
    return [Action.editor("view", root), Action.editor("view", f"{root}/a.py", view_range=[2, 3]),
            Action.editor("view", f"{root}/a.py", view_range=[0, 9]),
            Action.editor("str_replace", f"{root}/a.py", old_str="x = 1", new_str="x = 2"),
            Action.editor("str_replace", f"{root}/a.py", old_str="y = 2", new_str="y = 3"),
            Action.editor("str_replace", f"{root}/a.py", old_str="nope", new_str=""),
            Action.editor("insert", f"{root}/pkg/b.py", insert_line=1, new_str="    '''doc'''"),
            Action.editor("insert", f"{root}/pkg/b.py", insert_line=99, new_str="x"),
            Action.editor("create", f"{root}/pkg/new.py", file_text="NEW = True\n"),
            Action.editor("create", f"{root}/a.py", file_text="again"),
            Action.editor("undo_edit", f"{root}/a.py"), Action.editor("undo_edit", f"{root}/docs/readme.txt"),
            Action.editor("view", f"{root}/missing.py"), Action.editor("view", "relative.py"),
            Action.editor("delete", f"{root}/a.py"), Action.editor("str_replace", f"{root}/pkg", old_str="a")]


def test_the_fakes_editor_answers_exactly_as_the_sandboxs_editor_on_real_files(tmp_path, monkeypatch):
    """The same calls on real files (the editor the container runs, here on a host temp dir) and on the fake's
    in-memory files give the same messages, exit codes and resulting files."""
    root = tmp_path / "repo"
    for rel, text in START.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.setattr(editor, "HISTORY_DIR", str(tmp_path / "history"))
    fake = FakeRuntime(START, workdir=str(root))
    for action in _edits(str(root)):
        real_out, real_code = editor.serve(dict(action.args))
        obs = fake.execute(action)
        assert (obs.output, obs.exit_code) == (real_out.decode(), real_code), action.args
    on_disk = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}
    assert {str(Path(p).relative_to(root)): t for p, t in fake.files.items()} == on_disk


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_patch_applies_with_git_and_gives_the_end_state(tmp_path):
    """diff() is a git-style patch: new, changed, deleted files and a missing final newline apply with
    `git apply` onto the start files and give exactly the fake's files; files outside the work dir are not in it."""
    def script(command: str):
        if command == "rm docs/readme.txt":
            del fake.files["/testbed/docs/readme.txt"]
        return None

    fake = FakeRuntime(START, script=script)
    fake.execute(Action.editor("str_replace", "/testbed/a.py", old_str="y = 2", new_str="y = 20"))
    fake.execute(Action.editor("insert", "/testbed/pkg/b.py", insert_line=2, new_str="# end"))
    fake.execute(Action.editor("create", "/testbed/pkg/new.py", file_text="N = 1"))
    fake.execute(Action.bash("rm docs/readme.txt"))
    fake.write_file("/tmp/outside.txt", "not in the patch\n")
    patch = fake.execute(Action.submit()).output
    assert patch == fake.diff() and "outside" not in patch and "deleted file mode" in patch

    repo = tmp_path / "repo"
    for rel, text in START.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (tmp_path / "p.diff").write_text(patch)
    subprocess.run(["git", "apply", str(tmp_path / "p.diff")], cwd=repo, check=True, capture_output=True)
    got = {"/testbed/" + str(p.relative_to(repo)): p.read_text() for p in repo.rglob("*") if p.is_file()}
    assert got == {p: t for p, t in fake.files.items() if p.startswith("/testbed/")}


def test_scripted_commands_are_answered_and_recorded():
    fake = FakeRuntime(script={"ls": "a.py\n", "false": Observation("", 1)}, default=Observation("?", 127))
    assert fake.run("ls") == Observation("a.py\n", 0)
    assert fake.execute(Action.bash("false")).exit_code == 1
    assert fake.run("make").output == "?" and fake.run("make").exit_code == 127
    assert fake.execute(Action("bash", {})).output.startswith("Error: the bash tool needs a `command`")
    assert fake.execute(Action("shell", {"command": "ls"})).output.startswith("Error: unknown tool 'shell'")
    assert fake.commands == ["ls", "false", "make", "make"]
    assert [a.tool for a in fake.actions] == ["bash", "bash", "shell"]

    called = FakeRuntime(script=lambda c: f"ran {c}" if c.startswith("echo") else None)
    assert called.run("echo hi").output == "ran echo hi" and called.run("pwd") == Observation("", 0)


def test_reset_returns_to_the_checkpoint_and_forgets_the_edit_history():
    fake = FakeRuntime({"a.py": "x = 1\n"})
    fake.execute(Action.editor("str_replace", "/testbed/a.py", old_str="x = 1", new_str="x = 2"))
    fake.write_file("b.py", b"raw \xff bytes\n")
    assert fake.read_file("b.py") == "raw \ufffd bytes\n" and "+x = 2" in fake.diff()
    assert fake.reset() == ResetResult(0.0)
    assert fake.files == {"/testbed/a.py": "x = 1\n"} and fake.diff() == ""
    assert "No edit history" in fake.execute(Action.editor("undo_edit", "/testbed/a.py")).output
    fake.write_file("a.py", "x = 3\n")
    fake.checkpoint()  # the new base: the patch and reset are relative to it
    assert fake.diff() == "" and (fake.reset(), fake.read_file("/testbed/a.py"))[1] == "x = 3\n"


def test_the_contracts_errors_missing_files_too_large_and_closed():
    fake = FakeRuntime({"big.txt": "x" * 100})
    with pytest.raises(SandboxError, match="No such file"):
        fake.read_file("nope.txt")
    with pytest.raises(TooLargeError):
        fake.read_file("big.txt", limit=10)
    fake.write_file("big.txt", "y" * 100)
    with pytest.raises(TooLargeError):
        fake.diff(limit=10)
    with FakeRuntime() as other:
        assert isinstance(other, Runtime) and other.is_alive() and other.home == "/home/agent"
    assert not other.is_alive()
    with pytest.raises(SandboxError, match="closed"):
        other.run("ls")


def test_a_scripted_policy_runs_a_whole_episode_on_the_fake():
    """What a user does to test a policy without Docker: the episode's patch is the fake's diff."""
    from srl_agent.eval.agent import AgentConfig, run_episode
    from srl_agent.policy.scripted import DeterministicPolicy, completions_for
    from srl_agent.task import Task

    fake = FakeRuntime({"calc.py": "def add(a, b):\n    return a - b\n"}, script={"pytest -q": "1 failed\n"})
    actions = [Action.bash("pytest -q"), Action.editor("view", "/testbed/calc.py"),
               Action.editor("str_replace", "/testbed/calc.py", old_str="a - b", new_str="a + b"), Action.submit()]
    trace = run_episode(Task("t-1", problem_statement="add() subtracts"), DeterministicPolicy(completions_for(actions)),
                        fake, AgentConfig(grade=False))
    assert fake.commands == ["pytest -q"] and "+    return a + b" in trace.patch
    assert trace.patch == fake.diff()
