"""Grading a patch in a container: a fresh one from the task image, with only the (filtered) patch applied.

What the code under test prints cannot make it pass: the tests run as the unprivileged user with a clean
environment (no user site, no PYTHONPATH into anything the patch adds); pytest writes its junit XML to a
directory outside the repository created just before the run; every process of that user is killed when the
run ends, and root reads the XML without following links. A test passes only when the XML and swebench's log
parser both say so. The patch's changes to tests, test configuration and start-up hooks are dropped first
(srl_agent/patch_filter.py) and, after applying, whatever changed anyway is put back and reported.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from srl_agent.errors import DockerUnavailableError, ImageBuildError, SandboxError
from srl_agent.grading import APPLY_COMMANDS, GradeReport, error_report, grade_log
from srl_agent.patch_filter import Dropped, filter_patch, protected_reason, test_dirs, test_files
from srl_agent.task import Task

if TYPE_CHECKING:  # the grader needs root-side calls (exec_agent, results_dir, ...): a local Sandbox, not a Runtime
    from srl_agent.sandbox.sandbox import Sandbox

# Variables of the image that load code at Python start-up: never passed to the test run.
_UNSAFE_ENV = ("PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONINSPECT", "PYTHONHOME", "PYTHONEXECUTABLE",
               "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "ENV")
PYTEST_PARSERS = ("pytest", "pytest_options", "pytest_v2", "parse_log_pytest", "parse_log_pytest_options",
                  "parse_log_pytest_v2")


def uses_pytest(task: Task) -> bool:
    return task.log_parser in PYTEST_PARSERS and "pytest" in task.test_command


def test_env(sb: "Sandbox", task: Task, junit: str | None) -> dict[str, str]:
    """The image's own environment, minus what could load code, plus no user site; PYTHONPATH only as far as
    it names the work dir itself."""
    env = sb.image_env()
    for k in _UNSAFE_ENV:
        env.pop(k, None)
    pp = [p for p in env.pop("PYTHONPATH", "").split(":") if p.rstrip("/") == task.workdir.rstrip("/")]
    if pp:
        env["PYTHONPATH"] = pp[0]
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update({"HOME": sb.home, "USER": sb.user, "LANG": env.get("LANG", "C.UTF-8"),
                "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PAGER": "cat", "GIT_PAGER": "cat"})
    if junit:
        env["PYTEST_ADDOPTS"] = f"--junitxml={junit} -o junit_family=xunit1"
    return env


def _apply(sb: "Sandbox", task: Task, patch: str) -> tuple[str | None, str]:
    """Try each apply command, as the unprivileged user, resetting between tries; (command, last error)."""
    work = sb.results_dir("patch-" + secrets.token_hex(8))
    path = f"{work}/model.patch"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": sb.home, "LANG": "C.UTF-8",
           "GIT_CONFIG_NOSYSTEM": "1"}
    last = ""
    for i, cmd in enumerate(APPLY_COMMANDS):
        if i:
            sb.reset()
            work = sb.results_dir("patch-" + secrets.token_hex(8))
            path = f"{work}/model.patch"
        sb.write_file(path, patch)
        code, out = sb.exec_agent(["bash", "-c", f"{cmd} {path}"], env, timeout=120)
        if code == 0:
            return cmd, ""
        last = out[-2000:]
    sb.reset()
    return None, last


def _enforce(sb: "Sandbox", task: Task) -> list[Dropped]:
    """Whatever the applied patch changed among the protected paths (through fuzz, renames or anything the
    filter did not see) is put back; `.rej`/`.orig` leftovers of the fallbacks are removed."""
    files = test_files(task)
    dirs = test_dirs(files)
    bad, junk = [], []
    for status, path in sb.changed_paths():
        reason = protected_reason(path, new_file=status == "A", files=files, dirs=dirs)
        if reason:
            bad.append(Dropped(path, reason))
        elif status == "A" and path.endswith((".rej", ".orig")):
            junk.append(path)
    sb.restore_paths([d.path for d in bad] + junk)
    return bad


def grade_in_container(sb: "Sandbox", task: Task, patch: str | None, *, timeout: float = 900.0) -> GradeReport:
    """Apply the filtered patch in `sb`, run the tests, grade. The library only ever passes a never-used
    container at the task's start state; eval/bench_sandbox.py passes an agent's container, to measure what
    the fresh one costs."""
    t0 = time.perf_counter()
    raw = patch or ""
    kept, dropped = filter_patch(raw, task)
    exists = bool(raw.strip())
    applied = None
    try:
        if kept.strip():
            applied, err = _apply(sb, task, kept)
            if applied is None:
                return GradeReport(task.instance_id, "NO", patch_exists=True, patch_applied=False,
                                   apply_error=err or "the patch does not apply", duration=time.perf_counter() - t0,
                                   dropped=[d.to_dict() for d in dropped])
        if exists:
            dropped += [d for d in _enforce(sb, task) if d not in dropped]
        if task.test_patch:
            work = sb.results_dir("test-" + secrets.token_hex(8))
            sb.write_file(f"{work}/test.patch", task.test_patch)
            code, out = sb.exec_agent(["git", "apply", "--verbose", f"{work}/test.patch"],
                                      {"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}, timeout=120)
            if code != 0:
                return error_report(task, f"the task's test patch does not apply: {out[-500:]}",
                                    patch_exists=exists, patch_applied=bool(applied))
        junit = f"{sb.results_dir('junit-' + secrets.token_hex(8))}/junit.xml" if uses_pytest(task) else None
        code, log = sb.exec_agent(["bash", "-c", task.test_command], test_env(sb, task, junit), timeout=timeout,
                                  limit=16 << 20)
        if code is None:
            return error_report(task, f"the test run timed out after {timeout:.0f}s", patch_exists=exists,
                                patch_applied=bool(applied), duration=time.perf_counter() - t0)
        xml = sb.read_private(junit) if junit else None
    except SandboxError as exc:
        return error_report(task, f"{type(exc).__name__}: {exc}", patch_exists=exists,
                            duration=time.perf_counter() - t0)
    report = grade_log(task, log, exit_code=code, junit=xml, use_junit=junit is not None)
    report.patch_exists = exists
    report.patch_applied = exists
    report.apply_command = applied
    report.dropped = [d.to_dict() for d in dropped]
    report.duration = time.perf_counter() - t0
    return report


def prepare(task: Task, **sandbox_kwargs) -> None:
    """Start the task's grading container now, in the background (call when an episode starts: by the time its
    patch is ready, a never-used container of the image is waiting). Failures show up when grading."""
    from srl_agent.errors import SRLError
    from srl_agent.sandbox.fresh import default_pool
    from srl_agent.tasks import resolve_image

    sandbox_kwargs.setdefault("workdir", task.workdir)
    try:
        default_pool().warm(resolve_image(task), **sandbox_kwargs)
    except (SRLError, OSError):
        pass


def grade_fresh(task: Task, patch: str | None, *, timeout: float = 900.0, pool=None, **sandbox_kwargs) -> GradeReport:
    """`grade_patch`'s work: a never-used container of the task image (from the pool), graded, removed."""
    from srl_agent.sandbox.fresh import default_pool
    from srl_agent.tasks import resolve_image

    sandbox_kwargs.setdefault("workdir", task.workdir)
    pool = pool or default_pool()
    t0 = time.perf_counter()
    try:
        image = resolve_image(task)
        sb = pool.take(image, **sandbox_kwargs)
    except (SandboxError, ImageBuildError, DockerUnavailableError, OSError) as exc:  # OSError: sdist fetch
        return error_report(task, f"could not start the task's sandbox: {exc}", patch_exists=bool(patch and patch.strip()),
                            duration=time.perf_counter() - t0)
    try:
        report = grade_in_container(sb, task, patch, timeout=timeout)
        report.duration = time.perf_counter() - t0
    finally:
        if hasattr(pool, "done"):
            pool.done(sb, image, **sandbox_kwargs)
        else:
            sb.close()
    return report
