"""Evaluation: the episode core (episode.py) shared with RLVR, the agent that plays a policy through it
(agent.py), the resumable evaluation runner and step-reward evaluation (evaluation.py), and the non-agent
modes (modes/: oracle files, agentless, scripted)."""
