"""The persistent bash session: state, timeouts that really kill, capped output, recovery of a dead shell."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.docker


def test_state_persists_between_commands(sb):
    """cwd, exported and plain variables and shell functions survive from one command to the next."""
    assert sb.run("cd /testbed/pkg && export FOO=bar && BAZ=1 && greet() { echo hi-$1; }").exit_code == 0
    obs = sb.run("pwd; echo $FOO $BAZ; greet you")
    assert obs.output == "/testbed/pkg\nbar 1\nhi-you\n"
    assert obs.exit_code == 0 and not obs.timed_out and not obs.restarted


def test_exit_code_stderr_and_syntax_errors(sb):
    """stderr is interleaved into output; a syntax error returns (it must not swallow the next command)."""
    obs = sb.run("echo out; echo err >&2; (exit 3)")
    assert obs.exit_code == 3 and "out\n" in obs.output and "err\n" in obs.output
    bad = sb.run("echo 'unterminated")
    assert bad.exit_code != 0 and not bad.timed_out
    assert sb.run("echo fine").output == "fine\n"


def test_heredocs_quotes_and_multiline_commands(sb):
    obs = sb.run("cat <<'EOF'\na 'b' \"c\" $HOME \\n\nEOF\nprintf '%s\\n' \"it's\"")
    assert obs.output == "a 'b' \"c\" $HOME \\n\nit's\n"


def test_timeout_kills_command_and_session_stays_usable(sb):
    """sleep 600 with a 2 s timeout returns in < 4 s, the sleep is gone, and cwd/env are kept."""
    sb.run("cd /tmp && export KEEP=1")
    start = time.monotonic()
    obs = sb.run("sleep 600", timeout=2)
    assert time.monotonic() - start < 4
    assert obs.timed_out and obs.exit_code is None and "timed out" in obs.output
    after = sb.run("pwd; echo $KEEP; pgrep -f 'sleep 600' || echo none")
    assert after.output == "/tmp\n1\nnone\n" and not after.restarted


def test_timeout_kills_background_children_and_daemons(sb):
    """The timeout kills the command's whole process tree, even children that left its session (setsid)."""
    obs = sb.run("sleep 601 & setsid sleep 602 & (sleep 603 &) ; sleep 604", timeout=1.5)
    assert obs.timed_out
    # bash may first print "Killed" notices for the dead jobs (or not, depending on timing): only the last line counts
    left = sb.run("pgrep -f 'sleep 60[1-4]' || echo none").output.splitlines()
    assert left[-1] == "none" and not any(line.strip().isdigit() for line in left), left


def test_timeout_spares_background_jobs_of_earlier_commands(sb):
    sb.run("nohup sleep 700 >/dev/null 2>&1 &")
    time.sleep(0.2)
    assert sb.run("sleep 30", timeout=1).timed_out
    assert sb.run("pgrep -fc 'sleep 700'").output.strip() == "1"


def test_background_job_holding_stdout_does_not_block(sb):
    start = time.monotonic()
    obs = sb.run("sleep 600 & echo started", timeout=10)
    assert obs.output == "started\n" and obs.exit_code == 0
    assert time.monotonic() - start < 2
    assert sb.run("echo next").output == "next\n"


def test_stdin_is_devnull_so_interactive_programs_cannot_hang(sb):
    start = time.monotonic()
    obs = sb.run("cat; read x; echo rc=$?; python3 -c 'input()'", timeout=20)
    assert time.monotonic() - start < 5 and not obs.timed_out
    assert "rc=1" in obs.output and "EOFError" in obs.output


def test_endless_output_is_capped_head_and_tail(base_image):
    from srl_agent.sandbox import Sandbox

    with Sandbox(base_image, output_limit=2000) as box:
        obs = box.run("seq 1 2000000; echo LAST", timeout=60)
        assert obs.truncated and obs.exit_code == 0
        assert obs.output.startswith("1\n2\n3\n") and obs.output.endswith("LAST\n")
        assert "bytes of output omitted" in obs.output and len(obs.output) < 2200
        endless = box.run("yes", timeout=2)
        assert endless.timed_out and endless.truncated and len(endless.output) < 2300


def test_non_utf8_output_is_replaced_not_fatal(sb):
    obs = sb.run("printf 'ok \\xff\\xfe bytes\\n'")
    assert obs.exit_code == 0 and obs.output == "ok \ufffd\ufffd bytes\n"


def test_exit_ends_the_command_and_keeps_the_earlier_state(sb):
    """Each command is its own bash: `exit 7` ends that command with 7; what it changed is not kept, what earlier
    commands set is."""
    sb.run("cd /tmp && export KEEP=1")
    obs = sb.run("cd /; exit 7")
    assert obs.exit_code == 7 and "shell exited" in obs.output and not obs.restarted
    after = sb.run("pwd; echo $KEEP")
    assert after.output == "/tmp\n1\n" and after.exit_code == 0 and not after.restarted


def test_shell_killed_by_its_own_command_reports_the_signal(sb):
    obs = sb.run("kill -9 $$")
    assert obs.exit_code == 137 and not obs.timed_out
    assert sb.run("echo alive").output == "alive\n"


def test_supervisor_killed_from_outside_is_replaced(sb):
    """The root supervisor dying (here: killed from outside) costs the shell state, never the sandbox."""
    code, _ = sb.container.exec(["kill", "-9", str(sb.session.info["pid"])])
    assert code == 0
    time.sleep(0.3)  # between commands: its end of the stream has closed by now
    obs = sb.run("echo back; pwd")
    assert obs.restarted and obs.exit_code == 0 and obs.output.startswith("back\n/testbed\n")
    assert not sb.run("true").restarted


def test_builtin_infinite_loop_times_out_and_keeps_the_earlier_state(sb):
    """A loop of builtins runs in the command's bash itself: the supervisor kills that process on time."""
    sb.run("cd /tmp")
    start = time.monotonic()
    obs = sb.run("while :; do :; done", timeout=1)
    assert obs.timed_out and not obs.restarted and time.monotonic() - start < 2
    assert sb.run("pwd").output == "/tmp\n"
