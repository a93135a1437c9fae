#!/bin/sh
# Learner entrypoint: starts the run, or resumes it when the run directory already holds one, so that a learner pod
# restarted by its StatefulSet (crash, eviction, node loss with the volume re-attached) continues from the last
# committed checkpoint instead of refusing to start ("already holds a run").
#   entrypoint-learner.sh --cluster --hostname H --port 4053 --run-dir /data/run --config /etc/rorecomp/cluster.conf
# The arguments are those of `rorecomp train`; --run-dir is required here (it decides between a new run and --resume).
set -eu

run_dir=""
prev=""
for arg in "$@"; do
  case "$prev" in --run-dir) run_dir=$arg ;; esac
  prev=$arg
done
if [ -z "$run_dir" ]; then
  echo "entrypoint-learner: --run-dir is required (it holds run.conf, checkpoints and metrics)" >&2
  exit 2
fi

app=${RORECOMP_DLL:-/app/rorecomp.dll}
# A run saves its settings as run.conf before anything else; its presence means there is a run to continue.
if [ -f "$run_dir/run.conf" ]; then
  echo "entrypoint-learner: $run_dir/run.conf exists: resuming the run from its last committed checkpoint"
  exec dotnet "$app" train --resume "$@"
fi
echo "entrypoint-learner: no run in $run_dir: starting a new one"
exec dotnet "$app" train "$@"
