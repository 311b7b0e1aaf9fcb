#!/usr/bin/env bash
# Roll an environment back to its previous good release (LiveInsight plan: scripts/rollback.sh).
#
#   ./scripts/rollback.sh                          # production, to the previous release
#   ./scripts/rollback.sh staging --to 1.3.2
#   ./scripts/rollback.sh production --dry-run
#
# All logic is in `inv rollback` (docs/cicd.md); this only runs it from the project root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ENV_NAME=${1:-production}
[ $# -gt 0 ] && shift
INV=inv
[ -x .venv/bin/inv ] && INV=.venv/bin/inv
exec "$INV" rollback --env "$ENV_NAME" "$@"
