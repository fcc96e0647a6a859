"""Weights download throughput: ``core.download.download`` vs a plain ``shutil.copyfileobj``.

A local web server over a plain folder (Python's ``http.server``, in its own process, as a
company mirror would be any web server over a folder) serves one file of random bytes. Each
round fetches it once with our downloader (sha256 while streaming, progress callbacks, stop
checks, temporary file, rename) and once with the baseline (``urlopen`` +
``shutil.copyfileobj`` into a file, no checksum), in alternating order, over the same kind of
connection to the same server; medians over the rounds. Goal: ours >= 0.9x the baseline.

With ``--link-mbps N`` the server paces itself to N MB/s (a real network link: 125 MB/s is
gigabit Ethernet); without it, loopback runs as fast as the CPUs allow, which is a stress test of
the client's per-byte work rather than a download anyone waits for.

    python benchmarks/weights_download.py [--quick] [--mb 80] [--rounds 7] [--link-mbps 125]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from studio_desktop.core.download import download

#: a web server over a folder that can pace itself (bytes per second in argv[3]; 0 = no limit)
PACED_SERVER = r"""
import http.server, os, sys, time
port, folder, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def copyfile(self, src, dst):
        if not rate:
            return super().copyfile(src, dst)
        t0, sent = time.perf_counter(), 0
        while block := src.read(256 * 1024):
            dst.write(block)
            sent += len(block)
            ahead = sent / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
os.chdir(folder)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the local server did not start")


def baseline(url: str, dest: Path) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out)
    elapsed = time.perf_counter() - t
    dest.unlink()
    return elapsed


def ours(url: str, dest: Path, sha: str) -> float:
    events = []
    t = time.perf_counter()
    download(url, dest, sha256_prefix=sha[:8], progress=events.append, stop=lambda: False)
    elapsed = time.perf_counter() - t
    dest.unlink()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=80, help="file size in MB (default 80)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="20 MB, 3 rounds")
    ap.add_argument("--link-mbps", type=float, default=0.0, help="pace the server to this many MB/s (0: no limit)")
    args = ap.parse_args()
    size_mb, rounds = (20, 3) if args.quick else (args.mb, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        served, out = root / "served", root / "out"
        served.mkdir()
        out.mkdir()
        data = os.urandom(size_mb * 1_000_000)
        sha = hashlib.sha256(data).hexdigest()
        name = f"model-{sha[:8]}.pth"
        (served / name).write_bytes(data)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", PACED_SERVER, str(port), str(served),
                                   str(args.link_mbps * 1e6)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(port)
            url = f"http://127.0.0.1:{port}/{name}"
            baseline(url, out / "warm")  # page cache and server warm
            times: dict[str, list[float]] = {"base": [], "ours": []}
            runs = {"base": lambda: baseline(url, out / name), "ours": lambda: ours(url, out / name, sha)}
            for r in range(rounds):
                order = list(runs) if r % 2 == 0 else list(reversed(runs))
                for kind in order:
                    times[kind].append(runs[kind]())
        finally:
            server.terminate()
            server.wait(10)
    b, o = (statistics.median(times[k]) for k in ("base", "ours"))
    link = f"paced to {args.link_mbps:g} MB/s" if args.link_mbps else "loopback, unpaced"
    print(f"file: {size_mb} MB, {rounds} rounds, server: Python http.server in its own process ({link}), "
          f"{os.cpu_count()} CPUs")
    print(f"baseline urlopen + shutil.copyfileobj          : {b * 1000:7.1f} ms  ({size_mb / b:7.1f} MB/s)")
    print(f"ours (sha256, progress, stop, temp + rename): {o * 1000:7.1f} ms  ({size_mb / o:7.1f} MB/s)")
    print(f"throughput ratio ours / plain copy: {b / o:.2f}x  (goal >= 0.9x)")


if __name__ == "__main__":
    main()
