"""Download one file, safely: progress, checksum while streaming, cancel, fail fast offline.

Pure Python (urllib), so the CLI downloads in the foreground and the GUI's download job runs
without importing torch. The rules:

- The bytes go to a hidden temporary file beside the destination (``.<name>.<pid>.<rand>.part``),
  the sha256 is computed while they stream, and only a complete file with the expected
  checksum is moved into place (``os.replace``): a cancelled, broken or wrong download never
  leaves a file that looks valid. Temporary files of dead processes are removed next time.
  Unlike the workspace's JSON files there is no fsync before the rename: a power cut right
  after it could leave a short file, which the store reports as damaged (size check) and which
  training refuses (it verifies the checksum before every run); an fsync would cost a weights
  download a disk flush of ~100 MB (measured on the development machine: a plain copy with
  fsync took 2-4x as long as without).
- No network never hangs: the host name is resolved with a deadline, the connection has a short
  timeout (``connect_timeout``) and a stalled transfer a longer one (``read_timeout``); all three
  end in "no connection to <host>: download on another computer and import the file" or
  "the download broke off".
- Proxies come from the environment (``https_proxy``, ``http_proxy``, ``no_proxy``), as for
  pip and curl. ``file://`` URLs work too (a mirror on a shared folder).
- A stop request is checked between chunks and, while a read waits for the network, by a
  watcher that shuts the socket, so Cancel takes effect within a fraction of a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import queue
import secrets
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput
from .procs import pid_alive

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
CHUNK = 1 << 20
#: progress callbacks at most this often (seconds)
PROGRESS_INTERVAL_S = 0.25
OFFLINE_HINT = "download on another computer and import the file"


class DownloadStopped(Exception):
    """The download was cancelled; nothing was kept."""


@dataclass(frozen=True)
class Progress:
    done: int
    #: bytes expected in all (None when the server does not say)
    total: int | None
    #: bytes per second over the last few seconds
    rate: float

    @property
    def eta_s(self) -> float | None:
        if not self.total or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int
    seconds: float
    url: str


def no_connection(host: str, why: str = "") -> InvalidInput:
    """The one message for every way of not reaching a host (the issue's wording)."""
    return InvalidInput(f"no connection to {host}: {OFFLINE_HINT}", hint=why or None)


def mb(n: int | float) -> str:
    return f"{n / 1e6:.1f} MB"


# --------------------------------------------------------------------------- opening


class _Opener:
    """urllib with the environment's proxies, a short connect timeout, a longer read timeout,
    and a handle on the sockets so a stop request can interrupt a read that waits."""

    def __init__(self, read_timeout: float):
        self.sockets: list[socket.socket] = []
        sockets, read = self.sockets, read_timeout

        class Conn(http.client.HTTPConnection):
            def connect(self):
                super().connect()  # (with self.timeout: the connect timeout)
                self.sock.settimeout(read)
                sockets.append(self.sock)

        class SConn(http.client.HTTPSConnection):
            def connect(self):
                super().connect()
                self.sock.settimeout(read)
                sockets.append(self.sock)

        class Handler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(Conn, req)

        class SHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(SConn, req, context=self._context)

        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler(), Handler, SHandler)

    def interrupt(self) -> None:
        for s in list(self.sockets):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _target_host(url: str) -> tuple[str, int, str]:
    """(host, port, what) the first connection goes to: the proxy when one applies."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return p.hostname or "", p.port or 80, f"proxy {p.hostname}"
    return host, parts.port or (443 if parts.scheme == "https" else 80), host


def _resolve(host: str, port: int, timeout: float) -> None:
    """Resolve ``host`` within ``timeout`` (getaddrinfo itself has no timeout and can wait
    for an unreachable DNS server for much longer)."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return  # an address: nothing to resolve
    except OSError:
        pass
    done: dict = {}

    def work():
        try:
            done["ok"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            done["error"] = exc

    t = threading.Thread(target=work, name="resolve", daemon=True)
    t.start()
    t.join(timeout)
    if "ok" not in done:
        raise done.get("error") or TimeoutError(f"resolving {host} took over {timeout:g} s")


def _open(url: str, opener: _Opener, connect_timeout: float):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "file") or (parts.scheme != "file" and not parts.hostname):
        raise InvalidInput(f"'{url}' is not a download address (http://, https:// or file://)")
    host = parts.hostname or "this computer"
    if parts.scheme != "file":
        target, port, what = _target_host(url)
        try:
            _resolve(target, port, connect_timeout)
        except OSError as exc:
            raise no_connection(what if what != host else host, _why(exc)) from None
    req = urllib.request.Request(url, headers={"User-Agent": "ai-studio", "Accept-Encoding": "identity"})
    try:
        return opener.opener.open(req, timeout=connect_timeout)
    except urllib.error.HTTPError as exc:
        name = parts.path.rsplit("/", 1)[-1]
        if exc.code == 404:
            raise InvalidInput(f"{host} has no file {name} (HTTP 404)",
                               hint=f"check the address {url}") from None
        if exc.code == 407:
            raise InvalidInput(f"the proxy asks for a user name and password (HTTP 407) to reach {host}",
                               hint="put them in the proxy setting: https_proxy=http://user:password@proxy:port"
                               ) from None
        raise InvalidInput(f"{host} answered HTTP {exc.code} {exc.reason} for {name}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if parts.scheme == "file":
            path = urllib.request.url2pathname(parts.path)
            raise InvalidInput(f"cannot read the file: {getattr(reason, 'strerror', None) or reason}",
                               path=path) from None
        if isinstance(reason, ssl.SSLError):
            raise _tls_failed(host, reason) from None
        raise no_connection(host, _why(reason)) from None
    except ssl.SSLError as exc:
        raise _tls_failed(host, exc) from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets during the handshake
        raise no_connection(host, _why(exc)) from None


def _tls_failed(host: str, exc: ssl.SSLError) -> InvalidInput:
    text = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return InvalidInput(f"the secure connection to {host} failed: {text}",
                        hint="a company proxy that inspects HTTPS needs its certificate: set SSL_CERT_FILE to it, "
                             "or use a weights mirror")


def _why(exc) -> str:
    if isinstance(exc, socket.gaierror):
        return "the name could not be resolved"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = getattr(exc, "strerror", None) or str(exc)
    return text[:120]


# --------------------------------------------------------------------------- downloading


def _remove_stale_temps(dest: Path) -> None:
    """Temporary files of earlier downloads of ``dest`` whose process is gone."""
    for tmp in dest.parent.glob(f".{dest.name}.*.part"):
        try:
            pid = int(tmp.name[len(dest.name) + 2:].split(".", 1)[0])
        except ValueError:
            pid = 0
        if not pid_alive(pid):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _create_temp(dest: Path) -> tuple[int, Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = dest.parent / f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
        try:
            return os.open(tmp, flags, 0o666), tmp  # mode follows the umask, like torch's own files
        except FileExistsError:
            continue


class _Rate:
    """Bytes per second over the last few seconds (steady enough for an ETA)."""

    def __init__(self, window_s: float = 3.0):
        self.window = window_s
        self.points: deque[tuple[float, int]] = deque()

    def add(self, t: float, done: int) -> float:
        self.points.append((t, done))
        while len(self.points) > 2 and t - self.points[0][0] > self.window:
            self.points.popleft()
        t0, d0 = self.points[0]
        return (done - d0) / (t - t0) if t > t0 else 0.0


def download(url: str, dest: str | Path, *, sha256_prefix: str | None = None,
             progress: Callable[[Progress], None] | None = None,
             stop: Callable[[], bool] | None = None, connect_timeout: float = CONNECT_TIMEOUT_S,
             read_timeout: float = READ_TIMEOUT_S, chunk: int = CHUNK) -> Downloaded:
    """Fetch ``url`` into ``dest`` (atomically), checking the sha256 against ``sha256_prefix``.

    Raises :class:`InvalidInput` with a one-line reason (no connection, HTTP error, broken
    transfer, wrong checksum, disk error) or :class:`DownloadStopped` when ``stop()`` became
    true; in every such case no file is left at ``dest`` (an earlier file there is untouched).
    """
    dest = Path(dest)
    host = urllib.parse.urlsplit(url).hostname or "this computer"
    stop = stop or (lambda: False)
    t0 = time.monotonic()
    _remove_stale_temps(dest)
    opener = _Opener(read_timeout)
    resp = _open(url, opener, connect_timeout)
    finished = threading.Event()

    def watch_stop():  # a read waiting on the network cannot check the flag itself
        while not finished.wait(0.1):
            if stop():
                opener.interrupt()
                return

    watcher = threading.Thread(target=watch_stop, name="download-stop", daemon=True)
    watcher.start()
    fd, tmp = _create_temp(dest)
    keep = False
    try:
        with resp, os.fdopen(fd, "wb", buffering=0) as out:
            total = _length(resp)
            digest = _copy(resp, out, total, host, url, progress, stop, chunk, tmp)
        size = tmp.stat().st_size
        if total is not None and size != total:
            raise _broken(host, size, total)
        if sha256_prefix and not digest.startswith(sha256_prefix.lower()):
            raise InvalidInput(
                f"the file from {host} is not the expected {dest.name}: its sha256 starts with "
                f"{digest[:len(sha256_prefix)]}, not {sha256_prefix.lower()}; nothing was kept",
                hint="a mirror or a proxy may serve another file; try again, or download it on another "
                     "computer and import it")
        os.replace(tmp, dest)
        keep = True
        return Downloaded(dest, digest, size, time.monotonic() - t0, url)
    finally:
        finished.set()
        if not keep:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _length(resp) -> int | None:
    try:
        value = int(resp.headers.get("Content-Length") or -1)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _broken(host: str, done: int, total: int | None) -> InvalidInput:
    of = f" of {mb(total)}" if total else ""
    return InvalidInput(f"the download from {host} broke off after {mb(done)}{of}; nothing was kept",
                        hint="try again; on an unreliable network download on another computer and import "
                             "the file")


class _HashWriter:
    """Hashes and writes chunks on a thread of its own, so that the next chunk is received
    meanwhile (sha256, socket reads and file writes all release the GIL): the checksum costs
    almost no throughput. A few buffers circulate between the two threads."""

    def __init__(self, out, tmp: Path, chunk: int, buffers: int = 4):
        self.out, self.tmp = out, tmp
        self.digest = hashlib.sha256()
        self.free: queue.Queue = queue.Queue()
        self.full: queue.Queue = queue.Queue()
        for _ in range(buffers):
            self.free.put(bytearray(chunk))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="download-hash", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (item := self.full.get()) is not None:
                buf, n = item
                data = memoryview(buf)[:n]
                self.digest.update(data)
                while data:
                    data = data[self.out.write(data):]
                self.free.put(buf)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            self.error = exc
            self.free.put(None)

    def buffer(self) -> bytearray:
        buf = self.free.get()
        if buf is None:
            self._raise()
        return buf

    def put(self, buf: bytearray, n: int) -> None:
        self.full.put((buf, n))

    def finish(self) -> str:
        self.full.put(None)
        self.thread.join()
        if self.error is not None:
            self._raise()
        return self.digest.hexdigest()

    def abandon(self) -> None:
        self.full.put(None)
        self.thread.join()

    def _raise(self):
        exc = self.error
        if isinstance(exc, OSError):
            raise InvalidInput(f"cannot write the download: {exc.strerror or exc}", path=self.tmp.parent) from None
        raise exc


def _copy(resp, out, total, host, url, progress, stop, chunk, tmp) -> str:
    """Stream the body into ``out``, hashing as it goes; the hex sha256."""
    writer = _HashWriter(out, tmp, chunk)
    readinto = getattr(resp, "readinto", None)
    rate = _Rate()
    done = 0
    started = last_report = last_stop = time.monotonic()
    rate.add(started, 0)
    if progress is not None:
        progress(Progress(0, total, 0.0))
    try:
        while True:
            buf = writer.buffer()
            try:
                if readinto is not None:
                    n = readinto(buf)
                else:
                    data = resp.read(chunk)
                    n = len(data)
                    buf[:n] = data
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if stop():
                    raise DownloadStopped() from None
                if isinstance(exc, TimeoutError | socket.timeout):
                    raise InvalidInput(f"the download from {host} stalled (no data for a while) after "
                                       f"{mb(done)}; nothing was kept", hint="try again later, or download on "
                                       "another computer and import the file") from None
                raise _broken(host, done, total) from None
            if not n:
                if stop():
                    raise DownloadStopped()
                break
            writer.put(buf, n)
            done += n
            now = time.monotonic()
            if now - last_stop >= 0.1:
                last_stop = now
                if stop():
                    raise DownloadStopped()
            if progress is not None and now - last_report >= PROGRESS_INTERVAL_S:
                last_report = now
                progress(Progress(done, total, rate.add(now, done)))
    except BaseException:
        writer.abandon()
        raise
    digest = writer.finish()
    if progress is not None:
        elapsed = time.monotonic() - started
        progress(Progress(done, total, done / elapsed if elapsed > 0 else 0.0))
    return digest


__all__ = ["CONNECT_TIMEOUT_S", "DownloadStopped", "Downloaded", "OFFLINE_HINT", "Progress", "READ_TIMEOUT_S",
           "download", "mb", "no_connection"]
