"""Expert trajectories: the canonical schema, importers for the common formats, and step-example splitting."""

from srl_agent.trajectory.schema import SCHEMA, Source, Step, Trajectory, read_trajectories, write_trajectories

__all__ = ["SCHEMA", "Source", "Step", "Trajectory", "read_trajectories", "write_trajectories"]
