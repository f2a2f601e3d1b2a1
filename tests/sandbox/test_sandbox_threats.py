"""The sandbox against an agent that attacks it, from inside, as the agent user (issue 11's findings).

Each test is named after the rule it protects; the docstring says which finding it reproduces.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.docker


def _root_sh(sb, script: str) -> str:
    """A shell command as root, from outside (docker exec), to look at what the agent could not."""
    code, out = sb.container.exec(["bash", "-c", script])
    return out.decode("utf-8", "replace")


def test_background_job_cannot_forge_a_later_commands_output_or_exit_code(sb):
    """Finding: a background job printing the session's sentinels made `echo real-4242` come back as other text
    with exit 0. Each command now has its own pipe and its exit code is the kernel's wait status."""
    assert sb.run("trap -p EXIT; echo $__srl_fd").output.strip() == ""  # nothing secret in the shell to print
    forger = ("(for i in $(seq 400); do printf '\\n__SRL_x_%s__ 0\\nFORGED\\n' $i; "
              "printf 'FORGED\\n' > /proc/$PPID/fd/1 2>/dev/null; sleep 0.005; done) &")
    sb.run(forger)
    obs = sb.run("echo real-4242")
    assert obs.exit_code == 0 and "real-4242\n" in obs.output
    bad = sb.run("false")
    assert bad.exit_code == 1 and not bad.timed_out
    sb.run("echo changed > notes.txt")
    sb.reset()
    assert sb.run("cat notes.txt").output == "line1\nline2\nline3\n"


def test_redefined_builtins_change_only_the_agents_own_commands_not_reset_or_diff(sb):
    """Finding: `eval() { :; }` made reset() return at once with nothing restored and diff() return '' while the
    tree was modified. Framing, diff and reset no longer go through the agent's shell."""
    sb.run("echo modified >> pkg/calc.py; echo new > new.py")
    sb.run("eval() { :; }; printf() { :; }; trap() { :; }; echo() { :; }; cd() { :; }; builtin() { :; }; "
           "command() { :; }; declare() { :; }; exit() { :; }; alias ls='echo hijacked'")
    patch = sb.diff()
    assert "+modified" in patch and "b/new.py" in patch
    sb.reset()
    assert sb.diff() == ""
    obs = sb.run("type eval | head -1; ls")
    assert obs.output.startswith("eval is a shell builtin\n") and "hijacked" not in obs.output


def test_reset_restores_git_config_and_hooks_and_root_git_never_runs_them(sb):
    """Findings: a `.git/hooks/post-checkout` survived reset; an agent-set core.fsmonitor ran inside the
    helper's git calls. Root git uses a shadow git dir and never reads the repository's config."""
    hook = "#!/bin/sh\necho hooked > /tmp/hook-ran-as-$(id -u)\n"
    sb.write_file(".git/hooks/post-checkout", hook)
    sb.run("chmod +x .git/hooks/post-checkout; printf '#!/bin/sh\\ntouch /tmp/fsmonitor-ran-as-$(id -u)\\n' "
           "> /testbed/.fsm && chmod +x /testbed/.fsm && git config core.fsmonitor /testbed/.fsm && "
           "git config alias.st '!touch /tmp/alias' && git config core.hooksPath /testbed/.git/hooks")
    before = _root_sh(sb, "cat /testbed/.git/config")
    sb.run("echo x >> notes.txt")
    assert "+x" in sb.diff()
    sb.reset()
    assert "/tmp/fsmonitor-ran-as-0" not in _root_sh(sb, "ls /tmp/fsmonitor-ran-as-* /tmp/hook-ran-as-* 2>/dev/null")
    config = _root_sh(sb, "cat /testbed/.git/config")
    assert "fsmonitor" not in config and "hooksPath" not in config and config != before
    assert _root_sh(sb, "ls /testbed/.git/hooks | grep -c '^post-checkout$' || true").strip() == "0"
    assert sb.run("git status --porcelain").output == ""


def test_nothing_the_agent_writes_runs_as_root(sb):
    """Finding: task images set PYTHONPATH=/testbed and the timeout kill ran a helper as root without -I, so a
    json.py in /testbed ran as uid 0 and a root daemon it started outlived reset()."""
    payload = ("import os\nopen('/tmp/ran-as-%d' % os.getuid(), 'w').close()\n"
               "if os.getuid() == 0:\n    open('/root/pwned', 'w').close()\n")
    for name in ("json.py", "os.py", "subprocess.py", "signal.py", "sitecustomize.py", "usercustomize.py",
                 "shutil.py", "tarfile.py", "marshal.py"):
        sb.write_file(name, payload)
    sb.write_file("/home/agent/.local/lib/python3.11/site-packages/usercustomize.py", payload)
    assert sb.run("sleep 30", timeout=1).timed_out  # the timeout path: the supervisor kills, nothing is started
    sb.execute(__import__("srl_agent.actions", fromlist=["Action"]).Action.editor("view", "/testbed"))
    sb.diff()
    sb.checkpoint()
    sb.reset()
    assert _root_sh(sb, "ls /root/pwned /tmp/ran-as-0 2>&1 | grep -c 'No such' ").strip() == "2"
    env = _root_sh(sb, "cat /proc/1/environ | tr '\\0' '\\n'")
    assert "PYTHONPATH" not in env
    roots = _root_sh(sb, "ps -o uid=,comm= -e | awk '$1 == 0 {print $2}' | sort | tr '\\n' ' '")
    assert set(roots.split()) <= {"docker-init", "sleep", "python3", "ps", "awk", "sort", "tr", "bash"}, roots
    sb.run("rm -rf json.py os.py subprocess.py signal.py sitecustomize.py usercustomize.py shutil.py tarfile.py "
           "marshal.py ~/.local")
    sb.checkpoint()  # the module's shared sandbox: back to the plain repo as its start state


def test_the_agents_shell_is_never_root_and_the_container_has_only_the_capabilities_it_needs(base_image):
    from srl_agent.errors import SandboxError
    from srl_agent.sandbox import Sandbox
    from srl_agent.sandbox.container import CAPABILITIES, docker_client

    with pytest.raises(SandboxError, match="never root"):
        Sandbox(base_image, user="root")
    with Sandbox(base_image) as box:
        assert box.run("id -u; grep CapEff /proc/self/status").output == "1000\nCapEff:\t0000000000000000\n"
        host = docker_client().api.inspect_container(box.container_id)["HostConfig"]
        assert host["CapDrop"] == ["ALL"] and sorted(host["CapAdd"]) == sorted(CAPABILITIES)
        assert "no-new-privileges" in host["SecurityOpt"]
        assert box.run("python --version").output.startswith("Python 3")  # realism: `python` exists


def test_every_call_returns_within_its_timeout_plus_a_second(sb):
    """Findings: sending a large command was not under the deadline (16 MB at timeout 2: 7 s; a 4 MB command to
    a stopped shell blocked for minutes), and replacing the shell cost 2.3-2.8 s past the timeout."""
    t0 = time.monotonic()
    big = sb.run("echo " + "x" * (16 << 20), timeout=2)
    assert time.monotonic() - t0 < 3 and big.exit_code is None and "over the 1 MiB limit" in big.output
    t0 = time.monotonic()
    stopped = sb.run("kill -STOP $$", timeout=2)
    assert stopped.timed_out and time.monotonic() - t0 < 3
    pid = sb.session.info["pid"]
    t0 = time.monotonic()
    sb.container.exec(["kill", "-STOP", str(pid)])  # the supervisor itself stops answering
    # Replacing it needs docker execs of its own: the second of slack grows by what two of them cost on this
    # machine right now (a few tenths on a loaded 2-core runner), still far below the 2.3-2.8 s of the finding.
    slack = 1.0 + 2 * (time.monotonic() - t0)
    t0 = time.monotonic()
    hung = sb.run("echo " + "y" * 900_000, timeout=2)
    took = time.monotonic() - t0
    assert took < 2 + slack and hung.restarted and hung.exit_code is None, f"{took:.2f}s (slack {slack:.2f}s)"
    assert sb.run("echo back").output == "back\n"


def test_leftover_processes_that_use_up_the_pids_limit_are_cleaned_before_the_next_command(base_image):
    """Finding: a fork bomb that backgrounds itself returns at once and keeps the pids limit exhausted; the next
    ordinary command could not fork and cost its whole timeout plus a shell restart."""
    from srl_agent.sandbox import Sandbox

    with Sandbox(base_image, pids_limit=64) as box:
        bomb = box.run(":(){ :|:& };:", timeout=5)
        assert not bomb.timed_out
        time.sleep(1.0)
        t0 = time.monotonic()
        after = box.run("echo survived; ps -e --no-headers | wc -l", timeout=20)
        lines = after.output.splitlines()  # the bomb's own last words ("fork: retry") may come first
        assert time.monotonic() - t0 < 5 and after.exit_code == 0 and "survived" in lines, after
        assert "process limit (64) was used up" in after.output
        assert int(lines[lines.index("survived") + 1]) < 10


def test_reset_restores_tmp_home_and_processes(sb):
    """Findings: /tmp and the home directory survived reset (a read-only file planted at the grader's old log
    path, a usercustomize.py in the user site), and so did background processes."""
    sb.run("echo planted > /tmp/srl_grade_test.log && chmod 444 /tmp/srl_grade_test.log && "
           "mkdir -p ~/.local/lib/python3.11/site-packages && echo 'print(1)' > "
           "~/.local/lib/python3.11/site-packages/usercustomize.py && echo x > /var/tmp/y && echo z > /dev/shm/z && "
           "echo alias x=y >> ~/.bashrc && chmod 000 ~ && (setsid sleep 900 &); nohup sleep 901 >/dev/null 2>&1 &")
    res = sb.reset()
    assert not res.recreated, res
    obs = sb.run("ls -A /tmp /var/tmp /dev/shm; ls ~/.local 2>&1 | grep -c 'No such'; grep -c 'alias x=y' ~/.bashrc;"
                 " pgrep -f 'sleep 90[01]' || echo none")
    assert obs.output == "/dev/shm:\n\n/tmp:\n\n/var/tmp:\n1\n0\nnone\n", obs.output


def test_reset_recreates_the_container_when_it_cannot_prove_the_state(sb):
    """Findings: `chmod -R 000 /testbed` or `rm -rf .git` made reset() raise. Removed permissions are restored
    in place (root); a deleted .git cannot be proven, so a new container is started at the checkpoint."""
    sb.run("echo changed > notes.txt; chmod -R 000 /testbed")
    res = sb.reset()
    assert not res.recreated and sb.run("cat notes.txt; stat -c %a pkg/calc.py").output == "line1\nline2\nline3\n644\n"
    old = sb.container_id
    sb.run("rm -rf .git pkg")
    res = sb.reset()
    assert res.recreated and ".git" in res.reason and sb.container_id != old
    obs = sb.run("git log --oneline | wc -l; cat pkg/calc.py | head -1; git status --porcelain")
    assert obs.output == "1\ndef add(a, b):\n", obs.output
    assert sb.reset().recreated is False


def test_reset_does_not_write_through_links_the_agent_made(sb):
    """A tracked directory replaced by a link to a root directory: root's restore must not write through it."""
    sb.run("rm -rf pkg && ln -s /etc pkg && ln -s /etc/passwd notes.txt")
    sb.reset()
    assert sb.run("test -L pkg || echo dir; head -1 notes.txt").output == "dir\nline1\n"
    assert "calc.py" not in _root_sh(sb, "ls /etc")


def test_the_sandboxs_own_reads_are_capped_and_host_memory_bounded(sb):
    """Finding: diff() of a 100 MB untracked file built a 123 MiB string on the host (reads were capped at 1 GiB)."""
    from srl_agent.errors import TooLargeError

    sb.run("head -c 100000000 /dev/urandom > big.bin")
    t0 = time.monotonic()
    with pytest.raises(TooLargeError, match="patch is over 4 MiB"):
        sb.diff()
    with pytest.raises(TooLargeError, match="over the 4 MiB"):
        sb.read_file("big.bin")
    assert time.monotonic() - t0 < 10
    from srl_agent.actions import Action

    submit = sb.execute(Action.submit())
    assert submit.exit_code == 1 and "cannot submit" in submit.output


def test_disk_writes_past_the_limit_stop_the_container_and_start_over(base_image):
    """Finding: no disk quota (1.25 GiB written in a container took 1.25 GiB of host disk; the /tmp part
    survived reset). /tmp is a size-limited tmpfs; the writable layer has a watchdog."""
    from srl_agent.sandbox import Sandbox

    with Sandbox(base_image, disk="64m", tmp_size="32m") as box:
        box.run("cd /testbed && git init -q && printf 'line1\\nline2\\nline3\\n' > notes.txt && git add -A && "
                "git commit -qm init")
        box.checkpoint()
        full = box.run("head -c 40000000 /dev/zero > /tmp/fill; echo rc=$?", timeout=30)
        assert "No space left" in full.output and "rc=1" in full.output
        box.run("rm /tmp/fill")
        old = box.container_id
        obs = box.run("for i in $(seq 20); do head -c 20000000 /dev/zero > /testbed/f$i; sleep 0.2; done", timeout=60)
        assert obs.restarted and "over its limit of 64 MiB" in obs.output, obs
        assert box.container_id != old
        assert box.run("ls /testbed; cat notes.txt").output.endswith("line1\nline2\nline3\n")


def test_an_image_without_an_unprivileged_user_gets_one(base_image):
    """SWE-bench's images have only root; the agent's shell is never root, so a user `agent` is made that owns
    the work dir (here: the bare root file system the base image is built from)."""
    from srl_agent.sandbox import Sandbox

    with Sandbox(base_image.replace("srl-agent-base:", "srl-agent-rootfs:")) as box:
        assert box.run("id -un; stat -c %U /testbed").output == "agent\nagent\n"
        box.checkpoint()
        box.write_file("a.txt", "a\n")
        assert "b/a.txt" in box.diff() and not box.reset().recreated and box.diff() == ""
