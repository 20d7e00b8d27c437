#!/usr/bin/env bash
# Make a Docker daemon answer for `run.py --docker` and the tests marked `docker`: a no-op when one already answers;
# otherwise installs Debian's docker.io (and debootstrap, which makes the image's base: Docker Hub is not reachable
# here) with apt when missing, and starts dockerd as these machines allow it: no iptables and no bridge (containers
# run with --network none), the overlay2 storage driver where the kernel lets this machine mount overlays (a
# container is created in well under a second), else vfs (which copies the whole image for every container: ~7 s for
# 120 MB here). TOPOBENCH_DOCKER_STORAGE=vfs|overlay2 forces one. Needs root. Log: /var/log/topobench-dockerd.log.
# Exit 0 when a daemon answers at the end, 1 (with one line saying why) otherwise.
set -uo pipefail

LOG=/var/log/topobench-dockerd.log
if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: no Docker daemon answers and starting one needs root: run this script as root, or start dockerd" >&2
  exit 1
fi
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; }; then
    echo "error: apt-get could not install ${missing[*]}; install them yourself, then rerun $0" >&2
    exit 1
  fi
fi
if pgrep -x dockerd >/dev/null 2>&1; then
  echo "error: a dockerd process runs but does not answer; see $LOG or stop it, then rerun $0" >&2
  exit 1
fi

# Start dockerd with storage driver $1; succeed once it answers, fail when it exits or stays silent for 60 s.
start() {
  nohup dockerd --storage-driver="$1" --iptables=false --bridge=none >>"$LOG" 2>&1 &
  local pid=$!
  for _ in $(seq 120); do
    if docker info >/dev/null 2>&1; then
      echo "dockerd started (storage driver $1, pid $pid)" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.5
  done
  kill "$pid" 2>/dev/null
  return 1
}

for driver in ${TOPOBENCH_DOCKER_STORAGE:-overlay2 vfs}; do
  if start "$driver"; then
    exit 0
  fi
  echo "dockerd did not start with the $driver storage driver (see $LOG)" >&2
done
echo "error: dockerd did not start; see $LOG" >&2
exit 1
