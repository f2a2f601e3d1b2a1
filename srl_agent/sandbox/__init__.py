"""Sandboxed Docker environments: where commands run (container lifecycle) separate from what runs (session, tools)."""

from srl_agent.sandbox.images import BASE_IMAGE
from srl_agent.sandbox.observation import Observation, ResetResult
from srl_agent.sandbox.pool import SandboxPool
from srl_agent.sandbox.sandbox import DEFAULT_TIMEOUT, Sandbox
from srl_agent.sandbox.session import DEFAULT_OUTPUT_LIMIT

__all__ = ["BASE_IMAGE", "DEFAULT_OUTPUT_LIMIT", "DEFAULT_TIMEOUT", "Observation", "ResetResult", "Sandbox",
           "SandboxPool"]
