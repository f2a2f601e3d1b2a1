#!/usr/bin/env bash
# Make a Docker engine answer: use a running one; else (root on Debian) install docker.io and start dockerd.
set -euo pipefail
LOG="${SRL_DOCKERD_LOG:-/var/log/srl-dockerd.log}"

answers() { docker info >/dev/null 2>&1; }

if answers; then echo "docker: engine running"; exit 0; fi

if [ "$(id -u)" != "0" ]; then
  echo "docker: no engine answers and this user is not root." >&2
  echo "        Start a Docker engine (or add yourself to the docker group), then rerun." >&2
  exit 2
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "docker: no dockerd and no apt-get: install the Docker engine for your OS, then rerun." >&2
    exit 2
  fi
  echo "docker: installing the engine (docker.io) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null
fi

# A daemon killed hard leaves its pid file and then refuses to start.
if [ -f /var/run/docker.pid ] && ! pgrep -x dockerd >/dev/null 2>&1; then
  rm -f /var/run/docker.pid
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "docker: starting dockerd (log: $LOG)"
  nohup dockerd >"$LOG" 2>&1 &
fi

for _ in $(seq 1 60); do
  if answers; then echo "docker: engine ready"; exit 0; fi
  sleep 1
done
echo "docker: dockerd did not answer within 60 s; see $LOG" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
