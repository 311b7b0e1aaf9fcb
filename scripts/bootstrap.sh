#!/usr/bin/env bash
# Fresh-machine bootstrap, then run the given command inside the project's venv:
#   scripts/bootstrap.sh inv release --env local
#   scripts/bootstrap.sh nox
#   scripts/bootstrap.sh --plan [COMMAND...]   # one line per decision and why; changes nothing
#
# Supports Debian 12 (bookworm) and 13 (trixie), as root or as a user with passwordless sudo,
# and Ubuntu 22.04 / 24.04, including GitHub-hosted runners where docker-ce, containerd.io and
# buildx are preinstalled (their engine is used as it is: docker.io is never installed beside
# docker-ce). Idempotent: each step checks first and skips what is done, so a second run prints
# only "ready" (or runs the command).
#
# The machine-wide pieces (apt packages, dockerd, the buildx plugin, the registry on
# 127.0.0.1:5000 with its state in /var/lib/shipyard and logs in /var/log/shipyard) need root:
# as root they run directly, otherwise through `sudo -n`. The venv, git and docker client
# settings belong to the user who runs the script. Every probe is a command found on PATH
# (docker, dpkg-query, sudo, id, ...) and the distribution is read from
# ${SHIPYARD_OS_RELEASE:-/etc/os-release}, so tests simulate other machines through --plan.
#
# SHIPYARD_BOOTSTRAP picks what a machine is for (the workflow sets it per job):
#   full    (default) everything: engine, buildx, registry, nginx, base image, the dev tools
#   build   engine, buildx and the base image; only the runtime dependencies (no dev tools
#           next to a job's cloud credentials)
#   deploy  only .venv with the runtime dependencies
# Python dependencies come from requirements/{dev,runtime}.lock (pinned, with hashes; made by
# `nox -s lock`) and are installed with --require-hashes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$ROOT/scripts/$(basename "${BASH_SOURCE[0]}")"
STATE=${SHIPYARD_MACHINE_STATE:-/var/lib/shipyard}
REGISTRY_ADDR=${SHIPYARD_REGISTRY_ADDR:-127.0.0.1:5000}
OS_RELEASE=${SHIPYARD_OS_RELEASE:-/etc/os-release}
APT_ETC=${SHIPYARD_APT_ETC:-/etc/apt}      # where docker-ce's apt repository would be configured
SBIN_DIRS=${SHIPYARD_SBIN_DIRS:-/usr/sbin:/usr/bin}  # where a packaged dockerd lives, off PATH too
LOGS=/var/log/shipyard
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins  # machine-wide: every user's docker CLI looks here
BASE_IMAGE=localhost/shipyard/busybox:1.35.0
VENV="$ROOT/.venv"
PROFILE=${SHIPYARD_BOOTSTRAP:-full}
case $PROFILE in
  full) APT_PACKAGES=(docker-registry nginx busybox-static apache2-utils git curl ca-certificates python3-venv acl)
        LOCK=dev ;;
  build) APT_PACKAGES=(busybox-static git curl ca-certificates python3-venv) LOCK=runtime ;;
  deploy) APT_PACKAGES=(git ca-certificates python3-venv) LOCK=runtime ;;
  *) printf '[bootstrap] error: SHIPYARD_BOOTSTRAP=%s is not a profile: use full, build or deploy\n' "$PROFILE" >&2
     exit 2 ;;
esac

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }
# Quiet steps keep their output in a log, shown only when they fail (--plan makes no log).
LOG=/dev/null
quiet() { "$@" >>"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "failed: $*"; }; }
# --plan: every step states its decision with plan(), and stops there when planning.
PLAN=false
plan() { if $PLAN; then printf '%s\n' "$*"; fi; }
planning() { $PLAN; }
# Scratch directories written as root are removed as root.
SCRATCH=()
cleanup() {
  if [ ${#SCRATCH[@]} -gt 0 ]; then as_root rm -rf "${SCRATCH[@]}" || true; SCRATCH=(); fi
  if [ "$LOG" != /dev/null ]; then rm -f "$LOG"; LOG=/dev/null; fi
}
trap cleanup EXIT

# -- privilege ----------------------------------------------------------------------------------
USER_ID=$(id -u)
USER_NAME=$(id -un)
PRIV=root   # root | sudo | no-sudo | sudo-asks

probe_privilege() {
  if [ "$USER_ID" = 0 ]; then PRIV=root
  elif ! command -v sudo >/dev/null 2>&1; then PRIV=no-sudo
  elif sudo -n true >/dev/null 2>&1; then PRIV=sudo
  else PRIV=sudo-asks
  fi
}

sudo_problem() {
  if [ "$PRIV" = no-sudo ]; then echo "sudo is not installed"; else echo "sudo asks $USER_NAME for a password"; fi
}

privilege_hint() {  # why a step that needs root (e.g. "apt-get") cannot run, and what to do
  local allow="'$USER_NAME ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/shipyard"
  case $PRIV in
    no-sudo) echo "$1 needs root and $(sudo_problem): run scripts/bootstrap.sh once as root, or install sudo and allow $allow" ;;
    sudo-asks) echo "$1 needs root and $(sudo_problem): allow passwordless sudo ($allow), or run scripts/bootstrap.sh once as root" ;;
  esac
}

report_privilege() {
  case $PRIV in
    root) plan "privilege: root -> machine-wide steps run directly, no sudo" ;;
    sudo) plan "privilege: non-root ($USER_NAME) with passwordless sudo -> machine-wide steps via sudo -n" ;;
    *) plan "privilege: non-root ($USER_NAME), $PRIV -> any step below that needs root stops with: $(privilege_hint "it")" ;;
  esac
}

# Runs a command as root: directly, or through passwordless sudo (never prompting).
as_root() {
  case $PRIV in
    root) "$@" ;;
    sudo) sudo -n "$@" ;;
    *) die "$(privilege_hint "$1")" ;;
  esac
}

# A read-only check, as root when we can be root, else as ourselves.
probe_root() {
  case $PRIV in
    root) "$@" ;;
    sudo) sudo -n "$@" ;;
    *) "$@" ;;
  esac
}

via() { [ "$PRIV" = root ] || printf ' via sudo'; }

# -- distribution -------------------------------------------------------------------------------
OS_FAMILY='' OS_VERSION='' OS_CODENAME='' OS_NAME=''

os_field() {  # the value of KEY in the os-release file, without quotes
  sed -n "s/^$1=//p" "$OS_RELEASE" | head -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}

detect_os() {
  [ -r "$OS_RELEASE" ] || die "cannot read $OS_RELEASE to tell the distribution"
  local id like
  id=$(os_field ID) like=$(os_field ID_LIKE)
  OS_VERSION=$(os_field VERSION_ID) OS_CODENAME=$(os_field VERSION_CODENAME)
  case " $id $like " in
    *" ubuntu "*) OS_FAMILY=ubuntu OS_NAME="Ubuntu $OS_VERSION" ;;
    *" debian "*) OS_FAMILY=debian OS_NAME="Debian $OS_VERSION" ;;
    *) die "unsupported distribution '$id' in $OS_RELEASE: this script supports Debian 12/13 and Ubuntu 22.04/24.04" ;;
  esac
  case "$OS_FAMILY $OS_VERSION" in
    "debian 12" | "debian 13" | "ubuntu 22.04" | "ubuntu 24.04")
      plan "os: $OS_NAME ($OS_CODENAME) from $OS_RELEASE -> supported" ;;
    *) plan "os: $OS_NAME ($OS_CODENAME) from $OS_RELEASE -> not a tested release; treated as $OS_FAMILY"
       say "warning: $OS_NAME is not a tested release (Debian 12/13, Ubuntu 22.04/24.04); going on as $OS_FAMILY" ;;
  esac
}

# -- probes -------------------------------------------------------------------------------------
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

ENGINE=absent        # answers | root-only (socket permission) | down | absent (no docker CLI)
ENGINE_VERSION=
DOCKER_CE=false      # docker-ce or docker-ce-cli installed: docker.io would remove them

# a dockerd to start: on PATH, or where packages put it (often not on a user's PATH)
dockerd_present() {
  local dir dirs
  command -v dockerd >/dev/null 2>&1 && return 0
  IFS=: read -r -a dirs <<<"$SBIN_DIRS"
  for dir in "${dirs[@]}"; do [ -x "$dir/dockerd" ] && return 0; done
  return 1
}

engine_version() { "$@" info --format '{{.ServerVersion}}' 2>/dev/null; }

probe_engine() {
  DOCKER_CE=false
  if pkg_installed docker-ce || pkg_installed docker-ce-cli; then DOCKER_CE=true; fi
  ENGINE=absent ENGINE_VERSION=
  command -v docker >/dev/null 2>&1 || return 0
  if ENGINE_VERSION=$(engine_version docker) && [ -n "$ENGINE_VERSION" ]; then ENGINE=answers
  elif [ "$PRIV" = sudo ] && ENGINE_VERSION=$(engine_version sudo -n docker) && [ -n "$ENGINE_VERSION" ]; then
    ENGINE=root-only
  else
    ENGINE=down ENGINE_VERSION=
    case $(docker info 2>&1) in *"permission denied"*) ENGINE=root-only ;; esac
  fi
}

# docker for read-only probes: through sudo while only root can reach the engine
dkr() { if [ "$ENGINE" = root-only ]; then probe_root docker "$@"; else docker "$@"; fi; }

# -- 1. Docker engine and buildx: what to install ----------------------------------------------
DOCKER_PACKAGES=()
BUILDX=ok            # ok | apt | trixie
BUILDX_PACKAGES=()

decide_engine() {
  case $ENGINE in
    answers) plan "docker engine: answers (Docker $ENGINE_VERSION) -> install no Docker package" ;;
    root-only) plan "docker engine: answers root only (Docker ${ENGINE_VERSION:-?, socket permission denied}) -> install no Docker package" ;;
    *)
      if $DOCKER_CE; then
        plan "docker engine: not answering; docker-ce is installed -> never docker.io (it would remove docker-ce); start the engine"
      elif [ "$ENGINE" = down ] && dockerd_present; then
        plan "docker engine: not answering; docker CLI $(command -v docker) is present -> install no Docker package; start dockerd"
      elif [ "$ENGINE" = down ]; then
        DOCKER_PACKAGES=(docker.io)
        plan "docker engine: a docker CLI ($(command -v docker)) but no dockerd -> apt-get install docker.io, then start dockerd"
      else
        DOCKER_PACKAGES=(docker.io)
        plan "docker engine: none (no docker CLI, no docker-ce) -> apt-get install docker.io, then start dockerd"
      fi ;;
  esac
}

docker_ce_repo() {  # docker-ce's own apt repository is configured here
  grep -rqs --include='*.list' --include='*.sources' 'download\.docker\.com' \
    "$APT_ETC/sources.list" "$APT_ETC/sources.list.d" 2>/dev/null
}

decide_buildx() {
  local version
  if version=$(docker buildx version 2>/dev/null); then
    BUILDX=ok
    read -r _ version _ <<<"$version"
    plan "buildx: works ($version) -> install nothing"
  elif docker_ce_repo; then
    BUILDX=apt BUILDX_PACKAGES=(docker-buildx-plugin)
    plan "buildx: missing, docker-ce's apt repository is configured -> apt-get install docker-buildx-plugin"
  elif [ "$OS_FAMILY" = ubuntu ]; then
    BUILDX=apt BUILDX_PACKAGES=(docker-buildx)
    plan "buildx: missing, $OS_NAME -> apt-get install docker-buildx (Ubuntu's own package)"
  elif [ "${OS_VERSION%%.*}" -ge 13 ] 2>/dev/null; then
    BUILDX=apt BUILDX_PACKAGES=(docker-buildx)
    plan "buildx: missing, $OS_NAME -> apt-get install docker-buildx"
  else
    BUILDX=trixie
    plan "buildx: missing, $OS_NAME has no package -> the plugin binary from Debian trixie's docker-buildx into $PLUGIN_DIR (trixie is not added to the sources)"
  fi
}

# -- 2. apt packages ----------------------------------------------------------------------------
install_packages() {
  local pkg missing=()
  for pkg in "${APT_PACKAGES[@]}" "${DOCKER_PACKAGES[@]}" "${BUILDX_PACKAGES[@]}"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    plan "packages: all present (${APT_PACKAGES[*]}) -> apt-get nothing"
    return
  fi
  plan "packages: would install ${missing[*]} (missing) -> apt-get install$(via)"
  planning && return
  say "installing ${missing[*]}"
  quiet apt_get update -qq
  quiet apt_get install -y -qq --no-install-recommends "${missing[@]}"
}

apt_get() { as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get "$@"; }

# -- 3. the engine runs, and this user may talk to it -------------------------------------------
systemd_runs() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

engine_answers_root() { probe_root docker info >/dev/null 2>&1; }

start_engine() {
  case $ENGINE in answers | root-only) return ;; esac
  if systemd_runs; then
    plan "dockerd: not running -> systemctl start docker$(via)"
  else
    plan "dockerd: not running -> start dockerd$(via), log in $LOGS/dockerd.log"
  fi
  planning && return
  say "starting dockerd"
  if systemd_runs; then
    quiet as_root systemctl start docker
  else
    dockerd_present \
      || die "a docker CLI is installed but no dockerd to start: start your Docker engine, or install docker.io"
    as_root mkdir -p "$LOGS"
    # shellcheck disable=SC2016 # $0 is expanded by that sh
    as_root env PATH="$PATH:$SBIN_DIRS" setsid -f sh -c 'exec dockerd >>"$0" 2>&1 </dev/null' "$LOGS/dockerd.log"
  fi
  for _ in $(seq 60); do engine_answers_root && break; sleep 0.5; done
  engine_answers_root || die "dockerd did not start; see $LOGS/dockerd.log"
  probe_engine
}

in_docker_group() { id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx docker; }

shell_words() {  # each argument single-quoted for sh -c
  local arg out=
  for arg in "$@"; do out+="'${arg//\'/\'\\\'\'}' "; done
  printf '%s' "$out"
}

# The engine answers root but not us: the socket belongs to group docker. Join it, then run the
# whole script again (every step is idempotent) in a shell that has the group.
ensure_docker_access() {
  [ "$ENGINE" = root-only ] || return 0
  getent group docker >/dev/null \
    || die "the engine answers root only and there is no docker group: make its socket reachable by $USER_NAME"
  if in_docker_group; then
    plan "docker access: $USER_NAME is in group docker, this session predates it -> re-run under sg docker"
  else
    plan "docker access: engine answers root only (socket permission) -> add $USER_NAME to group docker$(via), re-run under sg docker"
  fi
  planning && return
  if ! in_docker_group; then
    case $PRIV in
      root | sudo) ;;
      *) die "the engine's socket needs group docker, $USER_NAME is not in it and $(sudo_problem): ask an admin to run 'usermod -aG docker $USER_NAME', then log in again" ;;
    esac
    say "adding $USER_NAME to group docker (the engine's socket)"
    as_root usermod -aG docker "$USER_NAME"
  fi
  [ -z "${SHIPYARD_BOOTSTRAP_SG:-}" ] \
    || die "the engine still refuses $USER_NAME under group docker: check the group of /var/run/docker.sock"
  command -v sg >/dev/null 2>&1 \
    || die "$USER_NAME was added to group docker: log in again (or run newgrp docker), then re-run scripts/bootstrap.sh"
  cleanup
  export SHIPYARD_BOOTSTRAP_SG=1
  exec sg docker -c "$(shell_words "$SELF" "${ARGS[@]}")"
}

# -- 4. buildx from Debian trixie (Debian 12 has no package) ------------------------------------
install_buildx_from_trixie() {
  [ "$BUILDX" = trixie ] || return 0
  planning && return
  say "installing the docker buildx plugin from Debian trixie's docker-buildx package"
  local tmp
  tmp=$(mktemp -d -t shipyard-buildx.XXXXXX)
  SCRATCH+=("$tmp")
  mkdir -p "$tmp/etc" "$tmp/lists/partial" "$tmp/archives/partial"
  cat > "$tmp/etc/trixie.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  local apt_tmp=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/etc"
                 -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp" -o "Dir::Cache::Archives=$tmp/archives"
                 -o APT::Sandbox::User=root)
  quiet apt_get "${apt_tmp[@]}" update -qq
  (cd "$tmp" && quiet apt_get "${apt_tmp[@]}" download docker-buildx)
  as_root dpkg-deb -x "$(echo "$tmp"/docker-buildx_*.deb)" "$tmp/x"
  as_root install -D -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-buildx" "$PLUGIN_DIR/docker-buildx"
  docker buildx version >/dev/null 2>&1 || die "the buildx plugin did not install into $PLUGIN_DIR"
}

# -- 5. local registry with htpasswd auth (credentials generated once, outside the repository) --
REG="$STATE/registry"

registry_config() {
  cat <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REG/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
auth:
  htpasswd:
    realm: shipyard-local
    path: $REG/htpasswd
CFG
}

registry_dirs() {
  local others
  if probe_root test -d "$REG/data"; then
    # root-only, for everyone but owner and ACL entries (chmod o-... leaves the ACL mask alone)
    others=$(probe_root stat -c %A "$REG")
    others=${others:7:3}
    if [ "$others" = --- ]; then plan "registry state: $REG exists, root-only -> nothing"; return; fi
    plan "registry state: $REG is open to others ($others) -> chmod o-rwx$(via)"
    planning && return
    as_root chmod o-rwx "$REG"
    return
  fi
  plan "registry state: $REG missing -> create it root-only (0700)$(via)"
  planning && return
  as_root mkdir -p "$STATE"
  probe_root test -d "$REG" || as_root mkdir -m 0700 "$REG"
  as_root mkdir -p "$REG/data"
}

registry_credentials() {
  if ! probe_root test -s "$REG/password"; then
    plan "registry credentials: none in $REG -> generate a password (0600) and its htpasswd entry$(via)"
    planning && return
    say "generating local registry credentials in $REG"
    # shellcheck disable=SC2016 # $1 is expanded by that sh
    as_root sh -c 'umask 077; head -c 24 /dev/urandom | base64 | tr -d "/+=" > "$1"' sh "$REG/password"
    as_root rm -f "$REG/htpasswd"
  fi
  if probe_root test -s "$REG/htpasswd"; then
    plan "registry credentials: present in $REG -> keep them"
    return
  fi
  plan "registry credentials: no htpasswd entry -> make it from the password (stdin, never argv)$(via)"
  planning && return
  # shellcheck disable=SC2016 # the password goes through stdin, never argv
  as_root sh -c 'umask 077; htpasswd -iBn shipyard < "$1" > "$2"' sh "$REG/password" "$REG/htpasswd"
}

# The local environment reads $REG/password as whoever runs shipyard: grant that user read access
# with an ACL (the files stay root-owned 0600/0700); without ACL support, fall back to group docker
# (whose members are root-equivalent through the engine anyway).
registry_access() {
  if [ "$PRIV" = root ]; then plan "registry credentials: root reads them -> no grant needed"; return; fi
  if [ -r "$REG/password" ]; then
    plan "registry credentials: readable by $USER_NAME -> nothing"
    return
  fi
  plan "registry credentials: not readable by $USER_NAME -> grant read with a POSIX ACL (u:$USER_NAME:r on the password, x on its directories)$(via)"
  planning && return
  if as_root setfacl -m "u:$USER_NAME:--x" "$STATE" "$REG" 2>/dev/null \
     && as_root setfacl -m "u:$USER_NAME:r--" "$REG/password" 2>/dev/null; then
    say "granted $USER_NAME read access to $REG/password (ACL)"
  else
    say "ACLs are not supported on $STATE: making $REG/password readable by group docker instead"
    as_root chgrp docker "$REG" "$REG/password"
    as_root chmod 0750 "$REG"
    as_root chmod 0640 "$REG/password"
  fi
  [ -r "$REG/password" ] || die "$USER_NAME still cannot read $REG/password: ask an admin to grant read access"
}

registry_config_file() {
  local want have why=missing
  want=$(registry_config)
  have=$(probe_root cat "$REG/config.yml" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then plan "registry config: $REG/config.yml up to date -> nothing"; return; fi
  [ -z "$have" ] || why="out of date"
  plan "registry config: $REG/config.yml $why -> write it$(via)"
  planning && return
  printf '%s\n' "$want" | as_root tee "$REG/config.yml" >/dev/null
}

registry_status() { curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/" || true; }

start_registry() {
  local status
  status=$(registry_status)
  if [ "$status" = 401 ]; then
    plan "registry: answers on $REGISTRY_ADDR with auth -> nothing"
    return
  fi
  plan "registry: not answering with auth on $REGISTRY_ADDR (HTTP $status) -> start docker-registry$(via), log in $LOGS/registry.log"
  planning && return
  # Debian's packaged service (systemd machines) listens on :5000 without our auth
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    as_root systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
  say "starting the local registry on $REGISTRY_ADDR"
  as_root mkdir -p "$LOGS"
  # shellcheck disable=SC2016 # $0 and $1 are expanded by that sh
  as_root setsid -f sh -c 'exec docker-registry serve "$1" >>"$0" 2>&1 </dev/null' \
    "$LOGS/registry.log" "$REG/config.yml"
  for _ in $(seq 40); do [ "$(registry_status)" = 401 ] && break; sleep 0.25; done
  [ "$(registry_status)" = 401 ] || die "the registry did not start; see $LOGS/registry.log"
}

# -- 6. the sample app's base image, made here from busybox-static (nothing can be pulled) -------
base_image() {
  case $ENGINE in
    answers | root-only) ;;
    *) plan "base image: engine not up yet -> $BASE_IMAGE made from busybox-static's /bin/busybox if missing"
       planning && return ;;
  esac
  if dkr image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    plan "base image: $BASE_IMAGE present -> nothing"
    return
  fi
  plan "base image: $BASE_IMAGE missing -> docker import of busybox-static's /bin/busybox"
  planning && return
  say "making base image $BASE_IMAGE from busybox-static"
  [ -x /bin/busybox ] || die "/bin/busybox is missing: apt-get install busybox-static"
  local rootfs
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/busybox", "sh"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

# -- 7. Python venv with shipyard and its dev dependencies, owned by this user (never sudo) ------
venv_stamp() {  # what .venv was installed from: the lock's name and the hash of it and pyproject
  echo "$1 $(cat "$ROOT/pyproject.toml" "$ROOT/requirements/$1.lock" | sha256sum | cut -d' ' -f1)"
}

python_venv() {
  local stamp="$VENV/.shipyard-deps" have want why
  want=$(venv_stamp "$LOCK")
  have=$(cat "$stamp" 2>/dev/null || true)
  # the dev lock holds every runtime package: a laptop's dev venv serves a deploy too
  if [ -x "$VENV/bin/python" ] && { [ "$have" = "$want" ] || { [ "$LOCK" = runtime ] && [ "$have" = "$(venv_stamp dev)" ]; }; }; then
    plan "python venv: .venv matches requirements/${have%% *}.lock -> nothing"
    return
  fi
  if [ -L "$VENV" ]; then
    # a link to another checkout's venv: installing here would repoint that checkout's shipyard
    plan "python venv: .venv links to $(readlink "$VENV") and does not match requirements/$LOCK.lock -> stop: bootstrap never changes another checkout's venv"
    planning && return
    die ".venv links to $(readlink "$VENV") and does not match requirements/$LOCK.lock: bootstrap never changes another checkout's venv; remove the link and re-run"
  fi
  local target="$VENV"
  [ -e "$VENV" ] || target="$ROOT"
  if [ ! -w "$target" ]; then
    plan "python venv: $target is not writable by $USER_NAME -> stop: run as its owner, or remove .venv if another user made it"
    planning && return
    die "$target is not writable by $USER_NAME: run as its owner, or remove .venv if another user made it, and re-run"
  fi
  why=$([ -x "$VENV/bin/python" ] && echo "out of date with requirements/$LOCK.lock" || echo "missing")
  plan "python venv: .venv $why -> python3 -m venv as $USER_NAME, pip install --require-hashes -r requirements/$LOCK.lock, then shipyard itself (-e, no dependencies)"
  planning && return
  say "installing Python dependencies into .venv (requirements/$LOCK.lock)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  local pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
  quiet "${pip[@]}" --require-hashes --no-deps -r "$ROOT/requirements/$LOCK.lock"
  # shipyard itself is built with the locked setuptools, not one fetched unchecked
  quiet "${pip[@]}" --no-deps --no-build-isolation -e "$ROOT"
  echo "$want" > "$stamp"
}

# -- 8. git: images are labelled by commit, so the checkout must be usable by this user ----------
git_safe_directory() {
  if ! command -v git >/dev/null 2>&1; then
    plan "git: not installed yet -> the checkout's ownership is checked once it is"
    return
  fi
  local err
  if err=$(LC_ALL=C git -C "$ROOT" rev-parse --git-dir 2>&1 >/dev/null); then
    plan "git: the checkout is usable by $USER_NAME -> nothing"
    return
  fi
  case $err in
    *"dubious ownership"*) ;;
    *) plan "git: $ROOT is not a git checkout -> nothing (images are labelled by commit)"; return ;;
  esac
  plan "git: the checkout belongs to another user -> trust it for the command run here only (GIT_CONFIG_* in its environment; no git config is written)"
  planning && return
  # command-scope config is "protected" like --global, but lives only in this process tree
  local n=${GIT_CONFIG_COUNT:-0}
  export "GIT_CONFIG_KEY_$n=safe.directory" "GIT_CONFIG_VALUE_$n=$ROOT" GIT_CONFIG_COUNT=$((n + 1))
}

# -- 9. GitHub Actions: later steps call inv and nox directly ----------------------------------
github_path() {
  [ -n "${GITHUB_PATH:-}" ] || return 0
  if grep -qxF "$VENV/bin" "$GITHUB_PATH" 2>/dev/null; then
    plan "github actions: $VENV/bin already in GITHUB_PATH -> nothing"
    return
  fi
  plan "github actions: append $VENV/bin to GITHUB_PATH -> later steps call inv and nox directly"
  planning && return
  echo "$VENV/bin" >> "$GITHUB_PATH"
}

profile_summary() {
  case $PROFILE in
    full) echo "engine, buildx, registry, nginx, base image, dev tools" ;;
    build) echo "engine, buildx, base image, runtime dependencies only" ;;
    deploy) echo ".venv with the runtime dependencies only" ;;
  esac
}

# -----------------------------------------------------------------------------------------------
ARGS=("$@")
if [ "${1:-}" = --plan ]; then PLAN=true; shift; fi
planning || LOG=$(mktemp -t shipyard-bootstrap.XXXXXX)

probe_privilege
report_privilege
detect_os
plan "profile: $PROFILE (SHIPYARD_BOOTSTRAP) -> $(profile_summary)"
if [ "$PROFILE" != deploy ]; then
  probe_engine
  decide_engine
  decide_buildx
fi
install_packages
if [ "$PROFILE" != deploy ]; then
  start_engine
  ensure_docker_access
  install_buildx_from_trixie
fi
if [ "$PROFILE" = full ]; then
  registry_dirs
  registry_credentials
  registry_access
  registry_config_file
  start_registry
fi
[ "$PROFILE" = deploy ] || base_image
python_venv
git_safe_directory
github_path

if planning; then
  if [ $# -gt 0 ]; then plan "command: would run '$*' in .venv, from $ROOT"; else plan "then: ready"; fi
  exit 0
fi
cleanup
unset SHIPYARD_BOOTSTRAP_SG
[ $# -gt 0 ] || { say "ready"; exit 0; }
cd "$ROOT"
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
exec "$@"
