#!/usr/bin/env bash
# One idempotent set-up for `make demo` and `make test` on a fresh machine:
# virtualenv, CPU torch first, the package with dev extras, the Docker engine, the offline base image.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.srl-installed"

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi

# A plain `torch` requirement would pull a multi-GB CUDA build: install the CPU build first.
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing the CPU build of torch"
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==${SRL_TORCH_VERSION:-2.13.0}" \
    || "$VENV/bin/pip" install -q --disable-pip-version-check torch --index-url https://download.pytorch.org/whl/cpu
fi

# Reinstall only when the project's requirements changed.
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "setup: installing srl-agent and its dev extras (a few minutes the first time)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev,ray]'
  echo "$want" > "$STAMP"
fi

# Docker engine + offline base image (skipped when present).
"$VENV/bin/srl" env setup
