"""nginx's state directory, made safe for a master that runs as root.

As root, nginx creates, chowns (to its worker user) and chmods its temp paths, and opens its
pid file and logs, all by path and following symlinks, at every start, `nginx -t` and reload.
So no directory on the way to them may be one the worker user, or anyone but its owner, can
change: a worker that could rename tmp/client and put a symlink there would have the next
reload chown whatever it points to. The layout:

    <prefix>/            shipyard's user, 0755 (workers only pass through)
    <prefix>/tmp/        shipyard's user, 0755: the worker cannot rename or add entries here
    <prefix>/tmp/client  the worker user, 0700 (and proxy, fastcgi, uwsgi, scgi)

Everything is created and repaired through descriptors opened with O_NOFOLLOW, walking from /,
so shipyard itself never follows a link another user planted.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import stat
from pathlib import Path

from shipyard.errors import ToolUnavailable, UsageError
from shipyard.records import record

# nginx's compiled-in default when the master is root (Debian builds it without --user); it is
# written into nginx.conf explicitly so the temp paths can be given to exactly this user
WORKER_USER = "nobody"
# nginx directive prefix (<kind>_temp_path) -> directory under tmp/
TEMP_PATHS = {
    "client_body": "client",
    "proxy": "proxy",
    "fastcgi": "fastcgi",
    "uwsgi": "uwsgi",
    "scgi": "scgi",
}
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@record
class Worker:
    user: str
    group: str
    uid: int
    gid: int


def worker() -> Worker | None:
    """Who nginx's workers run as when shipyard (hence the master) is root; None when they run
    as shipyard's own user (nginx ignores `user` then, and there is no boundary to guard)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(WORKER_USER)
    except KeyError:
        raise ToolUnavailable(
            f"the user {WORKER_USER} does not exist; nginx's workers run as it",
            hint=f"create it (useradd --system {WORKER_USER}) or run shipyard as another user",
        ) from None
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        group = str(pw.pw_gid)
    return Worker(pw.pw_name, group, pw.pw_uid, pw.pw_gid)


def prepare(prefix: Path, *, own: int, who: Worker | None) -> None:
    """Create or repair the layout above. `own`: how many directories ending at `prefix` are
    shipyard's own (created when missing, group/other write taken away); those above them are
    only checked. Refuses (exit 2) a location another user could change."""
    fd = open_prefix(prefix, own=own, who=who)
    try:
        uid, gid = os.geteuid(), os.getegid()
        st = os.fstat(fd)
        if st.st_uid == uid and stat.S_IMODE(st.st_mode) != 0o755:
            os.fchmod(fd, 0o755)  # the workers pass through to their temp paths
        tmp = _own_dir(fd, "tmp", uid, gid, 0o755, where=prefix / "tmp")
        try:
            for name in TEMP_PATHS.values():
                w_uid, w_gid = (who.uid, who.gid) if who else (uid, gid)
                os.close(_own_dir(tmp, name, w_uid, w_gid, 0o700, where=prefix / "tmp" / name))
        finally:
            os.close(tmp)
    finally:
        os.close(fd)


def check(prefix: Path, *, own: int, who: Worker | None) -> None:
    """Refuse (exit 2) a location another user could change, reading only: the directories of
    `prefix` that exist already, from / down. prepare() checks again as it opens them (and
    takes group/other write away from shipyard's own, which are not refused here for it)."""
    if who is None:
        return
    real = Path(os.path.realpath(prefix))
    chain = list(reversed((real, *real.parents)))
    for i, where in enumerate(chain):
        try:
            st = os.lstat(where)
        except FileNotFoundError:
            return
        ours = i >= len(chain) - own and st.st_uid == os.geteuid()
        if stat.S_ISDIR(st.st_mode) and not ours:
            _refuse_changeable(where, st, who)


def open_prefix(prefix: Path, *, own: int, who: Worker | None) -> int:
    """A descriptor of `prefix`, reached from / one directory at a time without following any
    symlink (the path is resolved first: a symlink above is fine, one planted later is not)."""
    parts = Path(os.path.realpath(prefix)).parts
    fd = os.open("/", _DIR)
    try:
        for i, name in enumerate(parts[1:], start=1):
            where = Path(*parts[: i + 1])
            ours = i >= len(parts) - own
            if ours:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            child = _open_dir(fd, name, where)
            os.close(fd)
            fd = child
            st = os.fstat(fd)
            if ours and st.st_uid == os.geteuid() and st.st_mode & 0o022:
                os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o022)
                st = os.fstat(fd)
            if who is not None:
                _refuse_changeable(where, st, who)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_dir(parent: int, name: str, where: Path) -> int:
    try:
        return os.open(name, _DIR, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UsageError(
                f"{where} is not a directory (a symlink or a file): nginx's state must be",
                hint=f"remove {where}; shipyard creates it",
            ) from None
        raise UsageError(f"cannot open {where}: {exc.strerror}") from None


def _refuse_changeable(where: Path, st: os.stat_result, who: Worker) -> None:
    """A directory someone other than its owner may rename entries of (group or world
    writable, unless sticky), or that nginx's worker user owns, lets that user swap what
    nginx opens as root."""
    mode = stat.S_IMODE(st.st_mode)
    open_to_others = mode & 0o022 and not mode & stat.S_ISVTX
    if st.st_uid == who.uid or open_to_others:
        owner = "nginx's worker user " + who.user if st.st_uid == who.uid else f"uid {st.st_uid}"
        raise UsageError(
            f"{where} (mode {mode:04o}, owner {owner}) can be changed by other users, and nginx "
            "runs as root below it",
            hint=f"chmod go-w {where}, or use a checkout only root and its owner can write",
        )


def _own_dir(parent: int, name: str, uid: int, gid: int, mode: int, *, where: Path) -> int:
    """parent/name as a directory of uid:gid with `mode`, created when missing; a symlink or
    file in its place (left by an earlier layout, or planted) is removed, never followed."""
    for _ in range(3):
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, mode, dir_fd=parent)
        try:
            fd = os.open(name, _DIR, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            os.unlink(name, dir_fd=parent)
            continue
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
        return fd
    raise UsageError(f"{where} keeps being replaced while shipyard prepares it")
