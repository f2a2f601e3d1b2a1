"""The Runtime Protocol is the one interface: the local Sandbox, the Ray RemoteSandbox and the FakeRuntime all
have every one of its methods with the Protocol's own signature, and the Ray handle's methods are generated from
it (a method added to the Protocol reaches the actor without anyone copying it). No Docker, no Ray."""

from __future__ import annotations

import inspect

import pytest

from srl_agent.sandbox import FakeRuntime, ResetResult, Runtime, Sandbox
from srl_agent.sandbox.ray_pool import RemoteSandbox
from srl_agent.sandbox.runtime import forward_runtime, runtime_attributes, runtime_methods

IMPLEMENTATIONS = [Sandbox, RemoteSandbox, FakeRuntime]


def test_the_protocol_names_the_calls_every_caller_uses():
    assert set(runtime_methods()) == {"run", "execute", "checkpoint", "reset", "diff", "read_file", "write_file",
                                      "is_alive", "close"}
    assert set(runtime_attributes()) == {"workdir", "user", "home"}
    assert inspect.signature(runtime_methods()["reset"]).return_annotation == "ResetResult"


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_every_implementation_has_each_protocol_method_with_the_same_signature(cls):
    for name, proto in runtime_methods().items():
        impl = getattr(cls, name, None)
        assert callable(impl), f"{cls.__name__} lacks {name}"
        assert inspect.signature(impl) == inspect.signature(proto), f"{cls.__name__}.{name}"
    for name in runtime_attributes():  # properties on the class, or attributes declared for the instances
        assert name in dir(cls) or name in getattr(cls, "__annotations__", {}), f"{cls.__name__} lacks {name}"


def test_the_remote_handle_forwards_each_protocol_call_to_the_actor_unchanged():
    sent = []
    handle = object.__new__(RemoteSandbox)
    handle._call = lambda name, *args, **kwargs: sent.append((name, args, kwargs)) or ResetResult(0.5)
    assert handle.reset() == ResetResult(0.5)  # the actor's ResetResult, not a float
    handle.run("ls", timeout=3)
    handle.read_file("a.py", 10)
    handle.diff()
    assert sent == [("reset", (), {}), ("run", ("ls",), {"timeout": 3}), ("read_file", ("a.py", 10), {}),
                    ("diff", (), {})]
    assert RemoteSandbox.run.__doc__ == Runtime.run.__doc__
    # is_alive and close know about the actor (a dead one is not alive; closing hands the actor back): their own
    assert "is_alive" in vars(RemoteSandbox) and "close" in vars(RemoteSandbox)


def test_forward_runtime_keeps_what_a_class_writes_itself():
    @forward_runtime
    class Proxy:
        def close(self) -> None:
            self.closed = True

        def _call(self, name, *args, **kwargs):
            return name

    p = Proxy()
    assert p.checkpoint() == "checkpoint" and p.close() is None and p.closed


def test_an_unstarted_sandbox_records_settings_and_refuses_calls():
    """Constructing starts nothing (no engine needed); a call before start() says how to start it."""
    from srl_agent.errors import SandboxError

    sb = Sandbox("any-image:0", memory="1g")
    assert not sb.started and not sb.is_alive() and sb.spec.memory == "1g"
    with pytest.raises(SandboxError, match=r"not started: call sb.start\(\)"):
        sb.run("ls")
    sb.close()
    with pytest.raises(SandboxError, match="closed"):
        sb.start()
    assert isinstance(FakeRuntime(), Runtime)
