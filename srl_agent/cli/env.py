"""`srl env ...`: set up the Docker engine and base image, run commands in sandboxes, open a shell, clean up."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

from srl_agent.cli.helpers import Parser, memory_size, positive_float, positive_int
from srl_agent.errors import ConfigError, UsageError

TIMEOUT_EXIT = 124  # like coreutils `timeout`


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("env", help="Docker engine, base image and sandboxes",
                       description="Set up the Docker engine and the offline base image; manage sandboxes.")
    env_sub = p.add_subparsers(dest="env_command", metavar="ACTION", required=True)
    s = env_sub.add_parser("setup", help="make a Docker engine answer and build the base image (idempotent)")
    s.add_argument("--force", action="store_true", help="rebuild the base image even when it exists")
    s.add_argument("--check", action="store_true", help="only report the engine, the base image and where the "
                   "package's recipes are; change nothing (exit 0 when ready, 1 when not)")
    s.set_defaults(func=_setup)

    r = env_sub.add_parser("run", help="run one command in a fresh sandbox; exits with the command's code",
                           description="Start a sandbox from IMAGE, run CMD in its shell, print the output, "
                                       "remove the sandbox and exit with CMD's exit code (124 on timeout).")
    r.add_argument("image", metavar="IMAGE", help="image name (the base image: `srl env setup` prints it)")
    r.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD",
                   help="the command, after `--` (one argument is run as a bash script; several are joined with "
                        "shell quoting); options may also come between IMAGE and `--`")
    r.add_argument("--timeout", type=positive_float, default=600.0, help="seconds before the command is killed (600)")
    _limit_args(r)
    r.set_defaults(func=_run)

    sh = env_sub.add_parser("shell", help="an interactive shell in a fresh sandbox (for humans)",
                            description="Start a sandbox from IMAGE and attach an interactive bash to it "
                                        "(docker exec -it); the sandbox is removed when the shell exits.")
    sh.add_argument("image", metavar="IMAGE")
    _limit_args(sh)
    sh.set_defaults(func=_shell)

    g = env_sub.add_parser("gc", help="remove every container srl-agent started (label srl-agent=1)")
    g.set_defaults(func=_gc)


def _limit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default="/testbed", help="work dir inside the container (/testbed)")
    p.add_argument("--memory", default="2g", type=memory_size, help="memory limit, e.g. 512m or 4g (2g)")
    p.add_argument("--cpus", type=positive_float, default=1.0, help="CPU limit (1.0)")
    p.add_argument("--pids-limit", type=positive_int, default=512, help="process limit (512)")
    p.add_argument("--network", action="store_true", help="give the container network access (off by default)")
    p.add_argument("--user", default=None, help="user inside the container (default: agent if the image has it)")


def _sandbox(args: argparse.Namespace, **kw):
    from srl_agent.sandbox import Sandbox

    _check_image(args.image)
    return Sandbox(args.image, workdir=args.workdir, memory=args.memory, cpus=args.cpus,
                   pids_limit=args.pids_limit, network=args.network, user=args.user, **kw)


def _check_image(name: str) -> None:
    """A missing image is the user's typo, not an engine failure: say so (exit 2) before starting anything."""
    import docker

    from srl_agent.sandbox.container import docker_client

    try:
        docker_client().images.get(name)
    except docker.errors.ImageNotFound:
        raise UsageError(f"IMAGE {name}: image not found here; `srl env setup` prints the base image's name, "
                         "`docker images` lists the others") from None
    except docker.errors.APIError:
        pass  # let the sandbox report what the engine says


def _setup(args: argparse.Namespace) -> int:
    from srl_agent.sandbox.images import BASE_IMAGE, build_base_image, ensure_engine

    if args.check:
        return _check_setup()
    ensure_engine()
    build_base_image(BASE_IMAGE, force=args.force)
    print(BASE_IMAGE)
    return 0


def _check_setup() -> int:
    """What `srl env setup` would find, without installing, starting or building anything."""
    import shutil
    import subprocess

    from srl_agent.sandbox.images import BASE_IMAGE, image_exists, recipe_dir
    from srl_agent.tasks.suite import suites_root

    client = shutil.which("docker")
    server = ""
    if client:
        r = subprocess.run([client, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                           timeout=30)
        server = r.stdout.strip() if r.returncode == 0 else ""
    base = bool(server) and image_exists(BASE_IMAGE)
    rows = [("docker client", client or "missing (srl env setup installs docker.io on Debian)"),
            ("docker engine", f"answering (server {server})" if server else "not answering (srl env setup starts one)"),
            ("base image", f"{BASE_IMAGE} " + ("present" if base else "missing (srl env setup builds it offline)")),
            ("base image recipe", str(recipe_dir())), ("task suites", str(suites_root()))]
    for name, value in rows:
        print(f"{name:<20s}{value}")
    print("ready" if base else "not ready: run `srl env setup`")
    return 0 if base else 1


def _run(args: argparse.Namespace) -> int:
    cmd = args.cmd
    if "--" in cmd:  # argparse leaves options given after IMAGE in the remainder: parse them here
        cut = cmd.index("--")
        opts = Parser(prog="srl env run", add_help=False)
        opts.add_argument("--timeout", type=positive_float, default=args.timeout)
        _limit_args(opts)
        opts.set_defaults(**{k: v for k, v in vars(args).items() if k != "cmd"})
        args = opts.parse_args(cmd[:cut], namespace=argparse.Namespace(**vars(args)))
        cmd = cmd[cut + 1:]
    if not cmd:
        raise ConfigError("give the command after `--`, e.g. `srl env run IMAGE -- ls -la`")
    script = cmd[0] if len(cmd) == 1 else shlex.join(cmd)
    with _sandbox(args, output_limit=64 << 20, default_timeout=args.timeout) as sb:
        # A child bash, so that `exit N` in the script ends the script, not the sandbox's session.
        obs = sb.run(f"bash -c {shlex.quote(script)}")
    sys.stdout.write(obs.output if not obs.output or obs.output.endswith("\n") else obs.output + "\n")
    sys.stdout.flush()
    if obs.timed_out:
        return TIMEOUT_EXIT
    return obs.exit_code if obs.exit_code is not None else 1


def _shell(args: argparse.Namespace) -> int:
    with _sandbox(args) as sb:
        print(f"sandbox {sb.container_id[:12]} ({args.image}); exit the shell to remove it", file=sys.stderr)
        tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []  # piped input works too
        return subprocess.call(["docker", "exec", "-i", *tty, "-u", sb.user, "-w", args.workdir, sb.container_id,
                                "bash"])


def _gc(args: argparse.Namespace) -> int:
    from srl_agent.sandbox.container import gc

    ids = gc()
    print(f"removed {len(ids)} container(s) labelled srl-agent=1")
    return 0
