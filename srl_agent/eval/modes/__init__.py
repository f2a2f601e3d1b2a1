"""The paper's two non-agent evaluation settings: oracle file edit (SWE-RL's) and an Agentless-mini-style pipeline.

Both write SWE-RL search/replace edits (srl_agent/edit_blocks.py), turn them into a patch, grade it in a
fresh container, and report the resolved rate with its Wilson interval plus swebench predictions.
"""
