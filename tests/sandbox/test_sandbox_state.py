"""checkpoint / reset / diff: back to the start state without a new container; the patch includes new files."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.docker


def test_diff_covers_modified_new_deleted_and_binary_files(sb):
    sb.run("echo more >> notes.txt && rm pkg/dup.py && echo new > added.py && mkdir -p d && "
           "printf '\\x00\\x01\\x02' > d/blob.bin")
    patch = sb.diff()
    assert "diff --git a/notes.txt b/notes.txt" in patch and "+more" in patch
    assert "deleted file mode" in patch and "a/pkg/dup.py" in patch
    assert "new file mode" in patch and "+new" in patch and "b/added.py" in patch
    assert "GIT binary patch" in patch and "d/blob.bin" in patch
    # the agent's own index is not touched by diff(): nothing became staged
    assert sb.run("git diff --cached --name-only").output == ""
    # the patch applies to the start state and reproduces the files, binary included
    blob = sb.read_file("d/blob.bin")
    sb.reset()  # restores /tmp as well: the patch and the expected blob go in afterwards
    assert sb.diff() == ""
    sb.write_file("/tmp/agent.patch", patch)
    sb.write_file("/tmp/blob.expected", blob.encode())
    obs = sb.run("git apply /tmp/agent.patch && cmp d/blob.bin /tmp/blob.expected && echo same")
    assert obs.output.endswith("same\n"), obs.output


def test_reset_restores_files_head_index_and_shell(sb):
    sb.run("echo changed > notes.txt && touch untracked.txt && git add untracked.txt && "
           "git commit -qm 'agent commit' && git checkout -q -b other && echo x > pkg/calc.py && "
           "cd /tmp && export LEAK=1 && (sleep 900 &)")
    sb.reset()
    obs = sb.run("pwd; echo LEAK=$LEAK; git status --porcelain; git log --oneline | wc -l; "
                 "git rev-parse --abbrev-ref HEAD; cat notes.txt; pgrep -f 'sleep 900' || echo none")
    assert obs.output == "/testbed\nLEAK=\n1\nmain\nline1\nline2\nline3\nnone\n", obs.output


def test_ignored_files_are_left_alone_and_checkpoint_moves(sb):
    """Git-ignored files (build artifacts of the task's repo) are neither in the patch nor deleted by reset."""
    sb.run("echo build > .gitignore && mkdir build && echo artifact > build/out.o")
    sb.checkpoint()
    try:
        sb.run("echo more > build/more.o; echo later > later.txt")
        assert "later.txt" in sb.diff() and "build/" not in sb.diff()
        sb.reset()
        assert sb.run("cat build/out.o; ls later.txt 2>&1 | grep -c 'No such'").output == "artifact\n1\n"
        assert sb.diff() == ""
    finally:
        sb.run("rm -rf build .gitignore")
        sb.checkpoint()


def test_reset_recovers_a_broken_shell(sb):
    sb.run("git() { echo hijacked; }; exec 1>/dev/null")  # the agent breaks its own shell's output
    sb.reset()
    assert sb.run("echo visible; type git 2>&1 | head -1").output == "visible\ngit is /usr/bin/git\n"


def test_write_and_read_file_round_trip(sb):
    sb.write_file("sub/dir/file.txt", "héllo\n")
    assert sb.read_file("/testbed/sub/dir/file.txt") == "héllo\n"
    from srl_agent.errors import SandboxError

    with pytest.raises(SandboxError):
        sb.read_file("/testbed/does-not-exist")


def test_diff_and_reset_need_a_checkpoint(base_image):
    from srl_agent.errors import SandboxError
    from srl_agent.sandbox import Sandbox

    with Sandbox(base_image) as box:
        with pytest.raises(SandboxError, match="checkpoint"):
            box.diff()
        box.checkpoint()  # a plain directory becomes a git repository
        box.write_file("a.txt", "a\n")
        assert "b/a.txt" in box.diff()
        box.reset()
        assert box.run("ls").output == ""


def test_a_sandbox_that_cannot_start_says_why_and_leaves_nothing(base_image):
    from srl_agent.errors import SandboxError
    from srl_agent.sandbox import Sandbox, start_sandbox

    with pytest.raises(SandboxError, match="user must exist"):
        Sandbox(base_image, user="no-such-user").start()
    with pytest.raises(SandboxError, match="not found"):
        start_sandbox("srl-agent-no-such-image:0")


def test_diff_sees_a_same_size_edit_made_in_the_second_of_the_reset(sb):
    """Regression: git treats a file written in the same second as the index as "racily clean"; diff() works on a
    copy of the index, and a copy with a fresh mtime hid such an edit (an empty patch at submit)."""
    for _ in range(3):
        sb.reset()
        sb.run("sed -i 's/a + b/a - b/' pkg/calc.py")  # same size, within milliseconds of the reset
        time.sleep(1.2)  # past the second: without the fix the cached stat now matches and the edit vanishes
        assert "-    return a + b\n+    return a - b" in sb.diff()


def test_a_sandbox_starts_only_when_asked_and_is_a_runtime(base_image):
    """Constructing records settings; start() makes the one container (again: the same one); `with` starts and
    closes; `home` is the agent's real home, read through the public property."""
    import uuid

    from srl_agent.sandbox import Runtime, Sandbox
    from srl_agent.sandbox.container import list_containers

    token = uuid.uuid4().hex
    sb = Sandbox(base_image, labels={"srl-agent.test": token})
    assert list_containers({"srl-agent.test": token}) == []
    try:
        assert sb.start() is sb and sb.start() is sb
        assert list_containers({"srl-agent.test": token}) == [sb.container_id]
        assert isinstance(sb, Runtime) and sb.home == sb.run("echo $HOME").output.strip() == "/home/agent"
    finally:
        sb.close()
    with Sandbox(base_image, labels={"srl-agent.test": token}) as box:
        assert box.is_alive() and list_containers({"srl-agent.test": token}) == [box.container_id]
    assert list_containers({"srl-agent.test": token}) == []
