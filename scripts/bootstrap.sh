#!/usr/bin/env bash
# Fresh-machine bootstrap, then run the given command inside the project's venv:
#   scripts/bootstrap.sh inv release --env local
#   scripts/bootstrap.sh nox
# Idempotent: each step checks first and skips what is already done. Debian 12, as root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SHIPYARD_MACHINE_STATE:-/var/lib/shipyard}
REGISTRY_ADDR=${SHIPYARD_REGISTRY_ADDR:-127.0.0.1:5000}
BASE_IMAGE=shipyard/busybox:1.35.0
APT_PACKAGES=(docker.io docker-registry nginx busybox-static apache2-utils git curl ca-certificates python3-venv)

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }
# Quiet steps keep their output in a log, shown only when they fail.
LOG=$(mktemp -t shipyard-bootstrap.XXXXXX)
quiet() { "$@" >>"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "failed: $*"; }; }
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages and starts dockerd)"

# 1. Debian packages -------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  quiet apt-get update -qq
  quiet apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. buildx plugin: Debian 12 has none; take the plain binary out of trixie's package --------
if ! docker buildx version >/dev/null 2>&1; then
  say "installing the docker buildx plugin from Debian trixie's docker-buildx package"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/etc" "$tmp/lists/partial" "$tmp/archives/partial"
  cat > "$tmp/etc/trixie.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt_tmp=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/etc"
           -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp" -o "Dir::Cache::Archives=$tmp/archives"
           -o APT::Sandbox::User=root)
  quiet apt-get "${apt_tmp[@]}" update -qq
  (cd "$tmp" && quiet apt-get "${apt_tmp[@]}" download docker-buildx)
  dpkg-deb -x "$tmp"/docker-buildx_*.deb "$tmp/x"
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-buildx" "$HOME/.docker/cli-plugins/docker-buildx"
  docker buildx version >/dev/null || die "buildx plugin did not install"
fi

# 3. Docker engine ---------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd"
  mkdir -p /var/log/shipyard
  nohup dockerd >/var/log/shipyard/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || die "dockerd did not start; see /var/log/shipyard/dockerd.log"
fi

# 4. Local registry with htpasswd auth (credentials generated once, outside the repository) ---
mkdir -p "$STATE/registry/data"
chmod 700 "$STATE/registry"
if [ ! -s "$STATE/registry/password" ]; then
  say "generating local registry credentials in $STATE/registry"
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$STATE/registry/password")
  htpasswd -Bbn shipyard "$(cat "$STATE/registry/password")" > "$STATE/registry/htpasswd"
fi
cat > "$STATE/registry/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
auth:
  htpasswd:
    realm: shipyard-local
    path: $STATE/registry/htpasswd
CFG
registry_status=$(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/" || true)
if [ "$registry_status" != 401 ]; then
  # Debian's packaged service (systemd machines) listens on :5000 without our auth
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
  say "starting the local registry on $REGISTRY_ADDR"
  mkdir -p /var/log/shipyard
  nohup docker-registry serve "$STATE/registry/config.yml" >/var/log/shipyard/registry.log 2>&1 &
  for _ in $(seq 40); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/")" = 401 ] && break
    sleep 0.25
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/")" = 401 ] \
    || die "the registry did not start; see /var/log/shipyard/registry.log"
fi

# 5. The sample app's base image, made here from busybox-static (nothing can be pulled) -------
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "making base image $BASE_IMAGE from Debian's busybox-static"
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/busybox", "sh"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi

# 6. Python venv with shipyard and its dev dependencies ------------------------------------------
VENV="$ROOT/.venv"
stamp="$VENV/.shipyard-deps"
want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python dependencies into .venv"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]" >/dev/null
  echo "$want" > "$stamp"
fi

# 7. git: images are labelled by commit, so the checkout needs one ------------------------------
git -C "$ROOT" config --global --add safe.directory "$ROOT" 2>/dev/null || true

rm -f "$LOG"
[ $# -gt 0 ] || { say "ready"; exit 0; }
cd "$ROOT"
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
exec "$@"
