"""Sandboxed Docker environments: where commands run (container lifecycle) separate from what runs (session, tools)."""

from srl_agent.sandbox.images import BASE_IMAGE

__all__ = ["BASE_IMAGE"]
