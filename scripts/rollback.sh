#!/usr/bin/env bash
# Roll an environment back to its previous good release (LiveInsight plan: scripts/rollback.sh).
#
#   ./scripts/rollback.sh production               # production, to the previous release
#   ./scripts/rollback.sh staging --to 1.3.2
#   ./scripts/rollback.sh production --dry-run
#
# The environment is never implied: a rollback of the wrong one is an outage.
# All logic is in `inv rollback` (docs/cicd.md); this only runs it from the project root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
  envs=$(cd "${SHIPYARD_ROOT:-.}/deploy/environments" && ls -- *.toml | sed 's/\.toml$//' | paste -sd, -)
  echo "error: name the environment to roll back, one of: ${envs//,/, } (e.g. $0 staging)" >&2
  exit 2
fi
ENV_NAME=$1
shift
INV=inv
[ -x .venv/bin/inv ] && INV=.venv/bin/inv
exec "$INV" rollback --env "$ENV_NAME" "$@"
