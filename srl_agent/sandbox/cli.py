"""`srl env ...`: set up the Docker engine and base image, and manage sandboxes."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("env", help="Docker engine, base image and sandboxes",
                       description="Set up the Docker engine and the offline base image; manage sandboxes.")
    env_sub = p.add_subparsers(dest="env_command", metavar="ACTION", required=True)
    s = env_sub.add_parser("setup", help="make a Docker engine answer and build the base image (idempotent)")
    s.add_argument("--force", action="store_true", help="rebuild the base image even when it exists")
    s.set_defaults(func=_setup)


def _setup(args: argparse.Namespace) -> int:
    from srl_agent.sandbox.images import BASE_IMAGE, build_base_image, ensure_engine

    ensure_engine()
    build_base_image(BASE_IMAGE, force=args.force)
    print(BASE_IMAGE)
    return 0
