#!/usr/bin/env bash
# What only the test suite needs beyond `make setup`: Debian's headless Chromium for the trace-viewer test.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
else
  echo "setup: chromium not found; the browser tests will be skipped (install Debian's chromium to run them)"
fi
