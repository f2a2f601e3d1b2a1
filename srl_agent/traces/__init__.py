"""Traces of student episodes and the self-contained HTML viewer."""

from srl_agent.traces.schema import READABLE_SCHEMAS, STOP_REASONS, TRACE_SCHEMA, Trace, TraceStep

__all__ = ["READABLE_SCHEMAS", "STOP_REASONS", "TRACE_SCHEMA", "Trace", "TraceStep"]
