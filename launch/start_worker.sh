#!/usr/bin/env bash
# Join a worker node to a running head. Usage: launch/start_worker.sh HEAD_IP[:PORT] [extra ray start args]
set -euo pipefail
head="${1:?usage: $0 HEAD_IP[:PORT]}"; shift
[[ "$head" == *:* ]] || head="$head:${RAY_PORT:-6379}"
exec ray start --address="$head" "$@"
