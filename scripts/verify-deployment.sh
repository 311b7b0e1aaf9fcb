#!/usr/bin/env bash
# Check what is live in an environment (LiveInsight plan: scripts/verify-deployment.sh):
# the configured HTTP checks (health, version) with retries; prints an OK/NG table.
#
#   ./scripts/verify-deployment.sh                 # production
#   ./scripts/verify-deployment.sh staging --version 1.4.0
#
# All logic is in `inv verify` (docs/cicd.md); this only runs it from the project root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ENV_NAME=${1:-production}
[ $# -gt 0 ] && shift
INV=inv
[ -x .venv/bin/inv ] && INV=.venv/bin/inv
exec "$INV" verify --env "$ENV_NAME" "$@"
