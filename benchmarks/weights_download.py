"""Weights download throughput: ``core.download.download`` vs a plain ``shutil.copyfileobj``.

A local web server over a plain folder (``python -m http.server``, in its own process, as a
company mirror would be any web server over a folder) serves one file of random bytes. Each
round fetches it once with our downloader (sha256 while streaming, progress callbacks, stop
checks, temporary file, fsync, rename) and once with the baseline (``urlopen`` +
``shutil.copyfileobj`` into a file, no checksum), in alternating order, over the same kind of
connection to the same server; medians over the rounds. Goal: ours >= 0.9x the baseline.

    python benchmarks/weights_download.py [--quick] [--mb 80] [--rounds 7]
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
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", str(served)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(port)
            url = f"http://127.0.0.1:{port}/{name}"
            baseline(url, out / "warm")  # page cache and server warm
            base_t, ours_t = [], []
            for r in range(rounds):
                order = [("base", None), ("ours", None)] if r % 2 == 0 else [("ours", None), ("base", None)]
                for kind, _ in order:
                    if kind == "base":
                        base_t.append(baseline(url, out / name))
                    else:
                        ours_t.append(ours(url, out / name, sha))
        finally:
            server.terminate()
            server.wait(10)
    b, o = statistics.median(base_t), statistics.median(ours_t)
    print(f"file: {size_mb} MB, {rounds} rounds, server: python -m http.server in its own process")
    print(f"baseline urlopen + shutil.copyfileobj : {b * 1000:7.1f} ms  ({size_mb / b:7.1f} MB/s)")
    print(f"ours (sha256, progress, fsync, rename): {o * 1000:7.1f} ms  ({size_mb / o:7.1f} MB/s)")
    print(f"throughput ratio ours/baseline: {b / o:.2f}x  (goal >= 0.9x)")


if __name__ == "__main__":
    main()
