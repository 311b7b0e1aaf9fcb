#!/usr/bin/env bash
# One-time AWS set-up for the GitHub Actions workflow (LiveInsight plan: scripts/setup-cicd.sh).
# Creates or updates the GitHub OIDC provider, one deploy role and policy per environment, the
# deploy lock table and, for blue/green, the CodeDeploy application and deployment group;
# prints what changed. Run with administrator credentials:
#
#   ./scripts/setup-cicd.sh --repo acme/gamepulse
#   ./scripts/setup-cicd.sh --repo acme/gamepulse --dry-run
#
# All logic is in `inv setup-cicd` (docs/cicd.md); this only runs it from the project root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
INV=inv
[ -x .venv/bin/inv ] && INV=.venv/bin/inv
exec "$INV" setup-cicd "$@"
