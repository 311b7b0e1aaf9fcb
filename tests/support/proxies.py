"""Byte-for-byte socket proxies that a test can cut and restore, so the code under test sees
the Docker engine or the registry disappear and come back.

Each accepted connection is piped to a fresh upstream connection by two threads, one per
direction. An end of file in one direction is passed on as a half-close (shutdown SHUT_WR),
the way the docker CLI ends stdin on a hijacked attach connection while it still reads the
output; a connection is closed once both directions have ended. `cut()` stops listening and
aborts every forwarded connection, so clients get "connection refused" for new connections
and an end of file or "connection reset" on open ones; `restore()` listens again at the same
address.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

BUFFER = 65536
ACCEPT_POLL_SECONDS = 0.05
JOIN_SECONDS = 5.0


class _Pipe:
    """One forwarded connection: client <-> upstream, closed when both directions ended."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self._threads = [
            threading.Thread(target=self._copy, args=(client, upstream), daemon=True),
            threading.Thread(target=self._copy, args=(upstream, client), daemon=True),
        ]

    def run(self) -> None:
        """Pipe both directions until both have ended, then close both sockets."""
        for thread in self._threads:
            thread.start()
        for thread in self._threads:
            thread.join()
        for sock in (self.client, self.upstream):
            sock.close()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        """Copy source to sink; pass an end of file on as a half-close, an error as an abort."""
        try:
            while chunk := source.recv(BUFFER):
                sink.sendall(chunk)
        except OSError:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """Break both sockets: the copy threads wake up, end, and run() closes them."""
        for sock in (self.client, self.upstream):
            if sock.family == socket.AF_INET:
                # linger 0: the close that follows sends a reset, not an orderly end
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)


class _Proxy:
    """The listener, accept loop and connection bookkeeping shared by both proxies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stop = threading.Event()
        self._pipes: set[_Pipe] = set()
        self._handlers: set[threading.Thread] = set()

    # the two things a concrete proxy decides
    def _bind(self) -> socket.socket:
        raise NotImplementedError

    def _connect_upstream(self) -> socket.socket:
        raise NotImplementedError

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def restore(self) -> None:
        """Listen (again) at the proxy's address; a no-op while already listening."""
        if self._listener is not None:
            return
        self._stop.clear()
        self._listener = self._bind()
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        """Stop listening and abort every forwarded connection; returns once all are closed."""
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(JOIN_SECONDS)
            self._acceptor = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            pipes, handlers = list(self._pipes), list(self._handlers)
        for pipe in pipes:
            pipe.abort()
        for handler in handlers:
            handler.join(JOIN_SECONDS)

    def close(self) -> None:
        """Cut everything; the proxy cannot be restored afterwards."""
        self.cut()

    def _accept_loop(self) -> None:
        """Accept until cut; each connection gets a handler thread."""
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            handler = threading.Thread(target=self._handle, args=(client,), daemon=True)
            with self._lock:
                self._handlers.add(handler)
            handler.start()

    def _handle(self, client: socket.socket) -> None:
        """Connect upstream and pipe; a failed upstream connect just closes the client."""
        me = threading.current_thread()
        try:
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                return
            pipe = _Pipe(client, upstream)
            with self._lock:
                self._pipes.add(pipe)
                cut_meanwhile = self._stop.is_set()
            if cut_meanwhile:
                pipe.abort()
            pipe.run()
            with self._lock:
                self._pipes.discard(pipe)
        finally:
            with self._lock:
                self._handlers.discard(me)

    def open_connections(self) -> int:
        """How many forwarded connections are open right now."""
        with self._lock:
            return len(self._pipes)

    def __enter__(self) -> _Proxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class UnixSocketProxy(_Proxy):
    """A unix socket in a fresh temp dir forwarding to `upstream` (the Docker engine's)."""

    def __init__(self, upstream: str = "/var/run/docker.sock") -> None:
        super().__init__()
        self.upstream = upstream
        self._dir = Path(tempfile.mkdtemp(prefix="shipyard-sock-"))
        self.path = self._dir / "docker.sock"
        self.restore()

    @property
    def docker_host(self) -> str:
        """The DOCKER_HOST value that reaches the engine through this proxy."""
        return f"unix://{self.path}"

    def _bind(self) -> socket.socket:
        # a cut leaves the socket file behind (connecting to it is refused); bind needs it gone
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        sock.listen(128)
        return sock

    def _connect_upstream(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.upstream)
        except OSError:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        """Cut everything and remove the temp dir with the socket."""
        super().close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> UnixSocketProxy:
        return self


class TcpProxy(_Proxy):
    """A listener on 127.0.0.1 at a free port forwarding to `upstream` (the registry)."""

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5000)) -> None:
        super().__init__()
        self.upstream = upstream
        self.port = 0
        self.restore()

    @property
    def address(self) -> str:
        """host:port as a registry reference or URL names it."""
        return f"127.0.0.1:{self.port}"

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # restore() binds the same port again while cut connections sit in TIME_WAIT
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.port = int(sock.getsockname()[1])
        return sock

    def _connect_upstream(self) -> socket.socket:
        sock = socket.create_connection(self.upstream, timeout=10)
        sock.settimeout(None)  # the timeout was for the connect; idle streams wait
        return sock

    def __enter__(self) -> TcpProxy:
        return self


@pytest.fixture
def docker_proxy() -> Iterator[UnixSocketProxy]:
    """A UnixSocketProxy to the real engine, closed after the test."""
    with UnixSocketProxy() as proxy:
        yield proxy


@pytest.fixture
def registry_proxy() -> Iterator[TcpProxy]:
    """A TcpProxy to the local registry on 127.0.0.1:5000, closed after the test."""
    with TcpProxy() as proxy:
        yield proxy
