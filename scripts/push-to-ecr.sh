#!/usr/bin/env bash
# Build, tag, push (and scan) the image in Amazon ECR: the GamePulse plan's interface.
# Every step is an `inv` task; this script only parses the plan's flags and calls them.
#
#   ./scripts/push-to-ecr.sh                              # patch bump, build, tag, push
#   ./scripts/push-to-ecr.sh --version 1.2.3              # this version
#   ./scripts/push-to-ecr.sh --multi-arch --latest --scan # amd64+arm64, latest, scan gate
#   ./scripts/push-to-ecr.sh --dry-run --version 1.2.3    # print every plan, change nothing
#
# Environment: AWS_REGION (default ap-northeast-2), AWS_ACCOUNT_ID (default: detected with
# STS), ECR_REPOSITORY (default: image.repository in deploy/shipyard.toml, i.e. gamepulse),
# SHIPYARD_ENV (default staging): the environment whose ECR settings apply.
set -euo pipefail
SELF=$(realpath "${BASH_SOURCE[0]}")
cd "$(dirname "$SELF")/.."
INV=inv
[ -x .venv/bin/inv ] && INV=.venv/bin/inv

USAGE="usage: $0 [--version X.Y.Z] [--multi-arch] [--latest] [--scan] [--dry-run] [--help]"

usage_error() {
  echo "error: $1" >&2
  echo "$USAGE" >&2
  exit 2
}

version=""
multi_arch=false
latest=false
scan=false
dry_run=false

while [ $# -gt 0 ]; do
  case "$1" in
    --version)
      [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || usage_error "--version needs a value such as 1.2.3"
      version="$2"
      shift 2
      ;;
    --version=*)
      version="${1#--version=}"
      [ -n "$version" ] || usage_error "--version needs a value such as 1.2.3"
      shift
      ;;
    --multi-arch) multi_arch=true; shift ;;
    --latest) latest=true; shift ;;
    --scan) scan=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help)
      echo "$USAGE"
      sed -n '2,12p' "$SELF" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) usage_error "unknown option: $1" ;;
  esac
done

export AWS_REGION="${AWS_REGION:-ap-northeast-2}"
env_name="${SHIPYARD_ENV:-staging}"
common=(--env "$env_name")
if $dry_run; then
  common+=(--dry-run)
fi
latest_flag=()
if $latest; then
  latest_flag=(--latest)
fi

step() {
  echo "==> inv $*" >&2
  "$INV" "$@"
}

# 1. the repository (created when missing; tag mutability checked against --latest)
step ecr-repo "${common[@]}" "${latest_flag[@]}"

# 2. the version: given, or the next patch release
if [ -n "$version" ]; then
  step version "${common[@]}" --set "$version"
elif $dry_run; then
  version="$("$INV" version --env "$env_name" --bump patch --print)"
  step version "${common[@]}" --bump patch
else
  step version "${common[@]}" --bump patch
  version="$("$INV" version --env "$env_name")"
fi
echo "==> version $version" >&2

# 3. build; a multi-platform build cannot be loaded into the engine, so the builder pushes
#    it under the registry tags itself and there is nothing left to tag or push
if $multi_arch; then
  step build "${common[@]}" --version "$version" --platform linux/amd64,linux/arm64 "${latest_flag[@]}"
else
  step build "${common[@]}" --version "$version"
  step tag "${common[@]}" --version "$version" "${latest_flag[@]}"
  step push "${common[@]}" --version "$version" "${latest_flag[@]}"
fi

# 4. the vulnerability gate
if $scan; then
  step scan "${common[@]}" --version "$version"
fi
