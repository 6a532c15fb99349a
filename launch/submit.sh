#!/usr/bin/env bash
# Run the main job on an existing cluster from a node that joined it. Usage: launch/submit.sh [hydra overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m relate_ray.launch cluster.address=auto "$@"
