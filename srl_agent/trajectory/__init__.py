"""Expert trajectories: the canonical schema, importers for the common formats, and step-example splitting."""

from srl_agent.trajectory.schema import SCHEMA, Source, Step, Trajectory, read_trajectories, write_trajectories

__all__ = ["SCHEMA", "Source", "Step", "Trajectory", "read_trajectories", "write_trajectories",
           "import_trajectories", "split_trajectories", "SplitConfig"]


def __getattr__(name: str):
    # The importer and splitter load lazily so `from srl_agent.trajectory import Step` stays cheap.
    if name == "import_trajectories":
        from srl_agent.trajectory.importer import import_trajectories
        return import_trajectories
    if name in ("split_trajectories", "SplitConfig"):
        from srl_agent.trajectory import split
        return getattr(split, name)
    raise AttributeError(name)
