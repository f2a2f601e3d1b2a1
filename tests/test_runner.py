"""The resumable-runner helper: one atomic write, the done-unless-ERROR rule, and how a stop request is honoured."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from srl_agent.runner import (StopRequest, atomic_write, done_unless_error, graceful_stop, is_graceful,
                              run_units)


def test_atomic_write_leaves_no_temp_file_and_replaces_whole(tmp_path):
    path = tmp_path / "sub" / "f.json"
    atomic_write(path, "one")
    atomic_write(path, "two")
    assert path.read_text() == "two" and sorted(p.name for p in path.parent.iterdir()) == ["f.json"]


def test_done_unless_error_retries_infrastructure_failures():
    """An ERROR result (infrastructure failure) or no result runs again on resume; any grade counts as done."""
    assert [done_unless_error(s) for s in (None, "ERROR", "NO", "FULL", "PARTIAL")] == [False, False, True, True, True]


def test_after_a_stop_request_no_unit_starts_and_running_ones_finish():
    stop = StopRequest()
    started, finished = [], []

    def work(u: int) -> None:
        started.append(u)
        if u == 0:
            stop.set()  # as the first Ctrl-C would, while unit 0 runs
            time.sleep(0.05)
        finished.append(u)

    out = run_units(range(10), work, workers=1, stop=stop)
    assert started == finished == [0] and out.finished == 1 and out.not_started == 9 and out.interrupted


def test_a_fatal_error_cancels_the_rest_and_others_are_collected():
    def work(u: int) -> None:
        if u == 1:
            raise ValueError("bad unit")

    out = run_units(range(3), work, workers=1, fatal=lambda exc: False)
    assert out.finished == 2 and [(u, str(e)) for u, e in out.failed] == [(1, "bad unit")]
    with pytest.raises(ValueError):
        run_units(range(3), work, workers=1)


def test_first_sigint_sets_the_request_instead_of_raising():
    with graceful_stop() as stop:
        assert is_graceful(signal.getsignal(signal.SIGINT))
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(50):
            if stop.is_set():
                break
            time.sleep(0.01)
        assert stop.is_set()
        assert is_graceful(signal.getsignal(signal.SIGINT)), "the second Ctrl-C handler is armed"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_no_handler_is_installed():
    seen = []

    def body():
        with graceful_stop() as stop:
            seen.append((stop.is_set(), signal.getsignal(signal.SIGINT)))

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == [(False, signal.default_int_handler)]


def test_a_second_sigint_ends_the_process_at_once_even_with_work_running(tmp_path):
    """First Ctrl-C: the run keeps going (a worker is busy for a minute); second: exit 130 right away."""
    import subprocess
    import sys

    script = tmp_path / "busy.py"
    script.write_text(
        "import sys, time\n"
        "from srl_agent.runner import graceful_stop, run_units\n"
        "with graceful_stop() as stop:\n"
        "    print('ready', flush=True)\n"
        "    run_units([60], time.sleep, stop=stop)\n"
        "sys.exit(0)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None, "the first Ctrl-C lets the running unit finish"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=30)
    err = proc.stderr.read()
    assert rc == 130 and time.monotonic() - t0 < 10, err
    assert "stopping" in err and "stopped at once" in err and "Traceback" not in err
