"""Sandbox pieces that need no Docker: quoting, output capping, the Observation record."""

from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from srl_agent.sandbox import Observation
from srl_agent.sandbox.session import bash_quote
from _incontainer import load

_Capture = load("shell").Capture


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=60))
def test_bash_quote_round_trips_any_text(text):
    """Commands reach the container's shell as one `$'...'` word; any text must arrive unchanged."""
    out = subprocess.run(["bash", "-c", f"printf '%s' {bash_quote(text)}"], capture_output=True)
    assert out.stdout.decode("utf-8") == text


def test_capture_keeps_head_and_tail_with_a_marker():
    cap = _Capture(10)
    for chunk in (b"abcdefgh", b"x" * 200_000, b"12345"):
        cap.feed(chunk)
    text, truncated = cap.result()
    assert text == b"abcde\n[... 200003 bytes of output omitted ...]\n12345" and truncated
    small = _Capture(100)
    small.feed(b"short \xff")
    assert small.result() == (b"short \xff", False)


def test_observation_round_trips_through_dict():
    obs = Observation("out", None, timed_out=True, truncated=True, duration=1.5, restarted=True)
    d = obs.to_dict()
    assert d["schema"] == "srl-observation/1" and Observation.from_dict(d) == obs
    assert Observation("", 0).ok and not obs.ok
