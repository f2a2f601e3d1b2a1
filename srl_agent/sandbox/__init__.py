"""Sandboxed Docker environments: where commands run (container lifecycle) separate from what runs (session, tools).

`Runtime` is the interface every caller uses; `Sandbox` (local Docker), `RemoteSandbox` (a Ray actor,
srl_agent.sandbox.ray_pool) and `FakeRuntime` (in memory, for tests without Docker) implement it.
"""

from srl_agent.sandbox.fake import FakeRuntime
from srl_agent.sandbox.images import BASE_IMAGE
from srl_agent.sandbox.observation import Observation, ResetResult
from srl_agent.sandbox.pool import SandboxPool
from srl_agent.sandbox.runtime import Runtime
from srl_agent.sandbox.sandbox import DEFAULT_TIMEOUT, Sandbox, start_sandbox
from srl_agent.sandbox.session import DEFAULT_OUTPUT_LIMIT

__all__ = ["BASE_IMAGE", "DEFAULT_OUTPUT_LIMIT", "DEFAULT_TIMEOUT", "FakeRuntime", "Observation", "ResetResult",
           "Runtime", "Sandbox", "SandboxPool", "start_sandbox"]
