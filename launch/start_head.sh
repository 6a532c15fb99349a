#!/usr/bin/env bash
# Start the Ray head node (dashboard on port 8265). Usage: launch/start_head.sh [extra ray start args]
set -euo pipefail
exec ray start --head --port="${RAY_PORT:-6379}" --dashboard-host="${DASHBOARD_HOST:-127.0.0.1}" "$@"
