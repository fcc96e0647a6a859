"""Downloading pretrained weights, against a local HTTP server on 127.0.0.1 serving a real state
dict (mobilenet_v3_small, untrained, ~10 MB): progress, checksum, broken and cancelled
transfers, no network, mirrors and proxies. Nothing leaves a file that looks valid."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from weights_data import state_dict_bytes
from weights_server import WeightsServer, closed_port, serve_entry

from studio_desktop.core.download import DownloadStopped, download
from studio_desktop.core.errors import InvalidInput
from studio_desktop.core.procs import StopFlag
from studio_desktop.core.protocol import Emitter
from studio_desktop.core.weights import (
    MIRROR_ENV,
    cache_dir,
    download_weights,
    effective_mirror,
    model_weights,
    save_mirror,
)
from studio_desktop.worker.download_weights import run_downloads

pytestmark = pytest.mark.ml
MODEL = "mobilenet_v3_small"
OFFLINE = "no connection to {}: download on another computer and import the file"


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", MIRROR_ENV):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "torch"


@pytest.fixture
def server():
    with WeightsServer() as s:
        yield s


@pytest.fixture
def data() -> bytes:
    return state_dict_bytes(MODEL)


def cache_files() -> list[str]:
    folder = cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def events_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_download_as_a_job_reports_progress_and_lands_verified(server, data, monkeypatch, tmp_path):
    entry = serve_entry(server, monkeypatch, MODEL, data)
    server.mode[entry.file_name] = "slow"  # a few progress events (64 KiB every 50 ms would take 8 s)
    server.slow_chunk = 1 << 20
    with Emitter(tmp_path / "events.jsonl", stdout=open(tmp_path / "out", "w")) as emitter:  # noqa: SIM115
        assert run_downloads([MODEL], emitter, StopFlag(), mirror="") == 0
    events = events_of(tmp_path / "events.jsonl")
    names = [e["event"] for e in events]
    assert names[0] == "started" and names[-1] == "completed" and "artifact" in names
    progress = [e for e in events if e["event"] == "progress"]
    assert len(progress) >= 3
    assert all(e["total"] == len(data) for e in progress)
    steps = [e["step"] for e in progress]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == len(data)
    assert any(e["eta_s"] is not None and e["eta_s"] > 0 for e in progress[1:-1])
    assert progress[-1]["message"].startswith("10.3 of 10.3 MB") and progress[-1]["model"] == MODEL
    path = cache_dir() / entry.file_name
    assert path.read_bytes() == data
    assert cache_files() == sorted([entry.file_name, "ai-studio-weights.json"])  # no temporary file left
    status = model_weights(MODEL, verify=True)
    assert status.state == "ready" and status.in_use.path == path
    assert status.in_use.origin == entry.url  # where it came from is remembered
    # a second request finds it and downloads nothing
    server.requests.clear()
    with Emitter(tmp_path / "events2.jsonl", stdout=open(tmp_path / "out", "w")) as emitter:  # noqa: SIM115
        assert run_downloads([MODEL], emitter, StopFlag(), mirror="") == 0
    assert server.requests == []
    assert any("already downloaded" in e.get("message", "") for e in events_of(tmp_path / "events2.jsonl"))


def test_wrong_checksum_is_rejected_and_nothing_is_kept(server, data, monkeypatch, tmp_path):
    entry = serve_entry(server, monkeypatch, MODEL, data)
    server.mode[entry.file_name] = "wrong"  # as long as the real file, other bytes
    with pytest.raises(InvalidInput, match=rf"not the expected {entry.file_name}: its sha256 starts with"):
        download_weights(MODEL)
    assert cache_files() == []
    assert model_weights(MODEL).state == "missing"
    # the job says so in one failed event
    with Emitter(tmp_path / "e.jsonl", stdout=open(tmp_path / "out", "w")) as emitter:  # noqa: SIM115
        assert run_downloads([MODEL], emitter, StopFlag(), mirror="") == 1
    failed = events_of(tmp_path / "e.jsonl")[-1]
    assert failed["event"] == "failed" and "sha256" in failed["error"] and failed["hint"]


def test_a_connection_dropped_mid_file_keeps_nothing(server, data, monkeypatch):
    entry = serve_entry(server, monkeypatch, MODEL, data)
    server.mode[entry.file_name] = "drop"
    with pytest.raises(InvalidInput, match=r"broke off after 5\.\d MB of 10\.\d MB; nothing was kept"):
        download_weights(MODEL)
    assert cache_files() == []


def test_an_earlier_good_file_survives_a_failed_download(server, data, monkeypatch, tmp_path):
    entry = serve_entry(server, monkeypatch, MODEL, data)
    dest = cache_dir() / entry.file_name
    download_weights(MODEL)
    server.mode[entry.file_name] = "drop"
    with pytest.raises(InvalidInput):
        download(entry.url, dest, sha256_prefix=entry.sha256_prefix)
    assert dest.read_bytes() == data


def test_cancel_stops_within_a_moment_and_keeps_nothing(server, data, monkeypatch):
    entry = serve_entry(server, monkeypatch, MODEL, data)
    server.mode[entry.file_name] = "slow"  # 64 KiB every 50 ms: ~8 s for the whole file
    stop = StopFlag()
    seen = []

    def progress(p):
        seen.append(p.done)
        if p.done > 0:
            stop.set("cancel")

    t0 = time.monotonic()
    with pytest.raises(DownloadStopped):
        download_weights(MODEL, progress=progress, stop=stop.requested)
    assert time.monotonic() - t0 < 3
    assert 0 < seen[-1] < len(data)
    assert cache_files() == []


def test_cancel_interrupts_a_read_that_waits_for_the_network(tmp_path):
    """A server that sends headers and then nothing: the stop still ends it at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
        time.sleep(10)
        conn.close()

    import threading

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(DownloadStopped):
        download(f"http://127.0.0.1:{port}/a.pth", tmp_path / "a.pth", stop=lambda: time.monotonic() - t0 > 0.5)
    assert time.monotonic() - t0 < 2
    assert list(tmp_path.iterdir()) == []
    listener.close()


def test_unreachable_hosts_fail_within_seconds(tmp_path, monkeypatch):
    port = closed_port()
    t0 = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        download(f"http://127.0.0.1:{port}/w.pth", tmp_path / "w.pth")
    assert time.monotonic() - t0 < 2
    assert err.value.message == OFFLINE.format("127.0.0.1")
    # a non-routable address (the IPv6 discard prefix): connect times out (or the network is
    # unreachable at once on machines without IPv6)
    t0 = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        download("http://[100::1]:9/w.pth", tmp_path / "w.pth", connect_timeout=1.0)
    assert time.monotonic() - t0 < 3
    assert err.value.message == OFFLINE.format("100::1")
    # a name server that never answers: resolving has a deadline too
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(30))
    t0 = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        download("https://download.example.org/w.pth", tmp_path / "w.pth", connect_timeout=1.0)
    assert time.monotonic() - t0 < 3
    assert err.value.message == OFFLINE.format("download.example.org")
    assert list(tmp_path.iterdir()) == []


def test_the_job_fails_fast_offline_with_the_way_out(tmp_path, data, monkeypatch):
    with WeightsServer() as s:
        serve_entry(s, monkeypatch, MODEL, data)
    # the server is gone: its port is closed now
    t0 = time.monotonic()
    with Emitter(tmp_path / "e.jsonl", stdout=open(tmp_path / "out", "w")) as emitter:  # noqa: SIM115
        assert run_downloads([MODEL], emitter, StopFlag(), mirror="") == 1
    assert time.monotonic() - t0 < 3
    failed = events_of(tmp_path / "e.jsonl")[-1]
    assert failed["event"] == "failed" and failed["error"] == OFFLINE.format("127.0.0.1")


def test_mirror_serves_the_same_file_names(server, data, monkeypatch, tmp_path):
    # the official address is unreachable; the mirror has the file under the same name
    entry = serve_entry(server, monkeypatch, MODEL, data, url_base=f"http://127.0.0.1:{closed_port()}/models")
    with pytest.raises(InvalidInput, match="no connection"):
        download_weights(MODEL)
    ws = tmp_path / "ws"
    ws.mkdir()
    save_mirror(ws, server.base + "/")
    mirror, where = effective_mirror(ws)
    assert (mirror, where) == (server.base, "setting")
    result = download_weights(MODEL, mirror=mirror)
    assert result.url == f"{server.base}/{entry.file_name}"
    assert (cache_dir() / entry.file_name).read_bytes() == data
    # the environment variable wins over the workspace setting; --mirror over both
    monkeypatch.setenv(MIRROR_ENV, "https://mirror.example.com/weights")
    assert effective_mirror(ws) == ("https://mirror.example.com/weights", MIRROR_ENV)
    assert effective_mirror(ws, "http://other/")[0] == "http://other"


def test_a_mirror_without_the_file_says_so(server, data, monkeypatch):
    entry = serve_entry(server, monkeypatch, MODEL, data)
    server.mode[entry.file_name] = "404"
    with pytest.raises(InvalidInput) as err:
        download_weights(MODEL, mirror=server.base)
    assert err.value.message == f"the mirror {server.base} has no {entry.file_name} (HTTP 404)"
    assert entry.url in err.value.hint


def test_a_folder_mirror_works_like_a_web_server(data, monkeypatch, tmp_path):
    with WeightsServer() as s:
        entry = serve_entry(s, monkeypatch, MODEL, data)
    share = tmp_path / "share"
    share.mkdir()
    (share / entry.file_name).write_bytes(data)
    mirror, _ = effective_mirror(None, str(share))
    assert mirror.startswith("file://")
    download_weights(MODEL, mirror=mirror)
    assert (cache_dir() / entry.file_name).read_bytes() == data


def test_proxy_settings_from_the_environment_are_honoured(server, data, monkeypatch):
    entry = serve_entry(server, monkeypatch, MODEL, data, url_base="http://weights.example.com/models")
    monkeypatch.setenv("http_proxy", server.base)
    download_weights(MODEL)
    assert server.requests == [entry.url]  # the proxy got the whole address
    assert (cache_dir() / entry.file_name).read_bytes() == data


def test_leftovers_of_a_killed_download_are_cleaned_up(server, data, monkeypatch):
    """A worker killed mid-file leaves its hidden temporary file; the next download removes it
    (a live download's file, named with a running pid, is left alone)."""
    entry = serve_entry(server, monkeypatch, MODEL, data)
    folder = cache_dir()
    folder.mkdir(parents=True)
    dead = folder / f".{entry.file_name}.999999999.0badc0de.part"
    live = folder / f".{entry.file_name}.{os.getpid()}.1234abcd.part"
    for tmp in (dead, live):
        tmp.write_bytes(data[:1000])
    assert model_weights(MODEL).state == "missing"  # a temporary file is not weights
    download_weights(MODEL)
    assert not dead.exists() and live.exists()
    assert (folder / entry.file_name).read_bytes() == data
