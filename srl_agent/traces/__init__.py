"""Traces of student episodes and the self-contained HTML viewer."""

from srl_agent.traces.schema import STOP_REASONS, TRACE_SCHEMA, Trace, TraceStep

__all__ = ["STOP_REASONS", "TRACE_SCHEMA", "Trace", "TraceStep"]
