"""The learning-evidence experiment's parts (docs/evidence-protocol.md): data splits, the CPU budget and checkpoint
selection, one run per (method, seed), held-out measures, statistics and reporting. `eval/learning_evidence.py`
is the command."""
