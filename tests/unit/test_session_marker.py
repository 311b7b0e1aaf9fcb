"""ECS Exec carries no exit status (the Session Manager plugin ends 0 either way), so inv exec
runs the command under /bin/sh with a marker printed after it: the real /bin/sh runs the
wrapped command here, and its output is cut into chunks of every size, as a session's bytes
arrive."""

from __future__ import annotations

import subprocess

import pytest

from shipyard.adapters.session_manager import ExitMarker, wrapped

NONCE = "c0ffee12"


def remote(command: tuple[str, ...]) -> bytes:
    """What the container prints for ECS's command string (the SSM agent splits it as a
    shell would; /bin/sh -c here)."""
    return subprocess.run(
        ["/bin/sh", "-c", wrapped(command, NONCE)], capture_output=True, check=False
    ).stdout


def through(data: bytes, size: int) -> tuple[bytes, int | None]:
    marker = ExitMarker(NONCE)
    shown = b"".join(marker.feed(data[i : i + size]) for i in range(0, len(data), size))
    return shown + marker.close(), marker.code


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 4096])
@pytest.mark.parametrize(
    ("command", "output", "code"),
    [
        (("sh", "-c", "echo 'a  b'; exit 3"), b"a  b\n", 3),
        (("printf", "no line end"), b"no line end", 0),
        (("sh", "-c", "echo __shipyard_exit_; exit 255"), b"__shipyard_exit_\n", 255),
        (("true",), b"", 0),
    ],
)
def test_the_marker_is_cut_out_and_its_status_kept(
    command: tuple[str, ...], output: bytes, code: int, size: int
) -> None:
    session = b"Starting session\r\n" + remote(command) + b"Exiting session.\r\n"
    shown, status = through(session, size)
    assert shown == b"Starting session\r\n" + output + b"Exiting session.\r\n"
    assert status == code


def test_a_pty_s_line_ends_go_with_the_marker() -> None:
    shown, status = through(b"ok\r\n__shipyard_exit_c0ffee12_7__\r\nbye\r\n", 5)
    assert (shown, status) == (b"ok\r\nbye\r\n", 7)


def test_without_a_marker_nothing_is_held_back_and_the_status_is_unknown() -> None:
    marker = ExitMarker(NONCE)
    assert marker.feed(b"prompt $ ") == b"prompt $ "  # shown at once: nothing looks like it
    assert marker.feed(b"x_") == b"x"  # could be a marker's start: held...
    assert marker.feed(b"y") == b"_y"  # ...until the next byte says it is not
    assert marker.close() == b""
    assert marker.code is None


def test_another_session_s_marker_is_left_alone() -> None:
    shown, status = through(b"__shipyard_exit_deadbeef_1__\n", 4)
    assert shown == b"__shipyard_exit_deadbeef_1__\n"
    assert status is None
