"""The protocol tailer: partial lines, noise, blank lines, torn final lines, unknown events."""

from __future__ import annotations

import json

from studio_desktop.core.event_tail import (
    Event,
    EventTail,
    Noise,
    offset_of_last_start,
    parse_line,
    read_tail_lines,
)


def _line(event: str, **kw) -> str:
    return json.dumps({"event": event, "time": 1.0, **kw}) + "\n"


def test_parse_line_kinds():
    assert parse_line("   ") is None
    assert parse_line('{"event": "epoch", "epoch": 2}') == Event("epoch", {"event": "epoch", "epoch": 2})
    assert parse_line("Traceback (most recent call last):") == Noise("Traceback (most recent call last):")
    assert isinstance(parse_line("[1, 2]"), Noise)
    assert isinstance(parse_line('{"no_event": 1}'), Noise)
    assert isinstance(parse_line('{"event": 3}'), Noise)


def test_missing_file_then_appears(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.poll() == []
    path.write_text(_line("started", total_epochs=3))
    events = tail.poll()
    assert [e.name for e in events] == ["started"]
    assert events[0].data["total_epochs"] == 3
    assert tail.poll() == []


def test_line_written_in_two_chunks(tmp_path):
    path = tmp_path / "events.jsonl"
    full = _line("epoch", epoch=1, metrics={"val_loss": 0.5})
    with open(path, "w") as fh:
        fh.write(full[:17])
    tail = EventTail(path)
    assert tail.poll() == []
    assert tail.pending_partial
    with open(path, "a") as fh:
        fh.write(full[17:])
    events = tail.poll()
    assert len(events) == 1 and events[0].name == "epoch"
    assert events[0].data["metrics"] == {"val_loss": 0.5}
    assert not tail.pending_partial


def test_noise_blank_and_unknown_events(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n" + "some stray print\n" + _line("weird_future_event", x=1) + "\n"
                    + _line("log", level="info", message="hello"))
    items = EventTail(path).poll()
    assert items[0] == Noise("some stray print")
    assert isinstance(items[1], Event) and items[1].name == "weird_future_event" and not items[1].known
    assert items[2].name == "log" and items[2].known and not items[2].terminal
    assert len(items) == 3


def test_torn_final_line_is_noise_not_crash(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(_line("progress", step=1, total=10) + '{"event": "progr')
    tail = EventTail(path)
    assert [e.name for e in tail.poll()] == ["progress"]
    assert tail.pending_partial
    leftover = tail.flush_partial()
    assert leftover == [Noise('{"event": "progr')]
    assert tail.flush_partial() == []


def test_max_bytes_bounds_each_poll(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(_line("progress", step=i, total=100) for i in range(100)))
    tail = EventTail(path, max_bytes=500)
    steps = []
    for _ in range(200):
        batch = tail.poll()
        steps += [e.data["step"] for e in batch]
        if not batch and not tail.pending_partial:
            break
    assert steps == list(range(100))


def test_truncated_file_restarts(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(_line("started") + _line("epoch", epoch=1))
    tail = EventTail(path)
    assert len(tail.poll()) == 2
    path.write_text(_line("started"))
    assert [e.name for e in tail.poll()] == ["started"]


def test_offset_of_last_start_skips_previous_run(tmp_path):
    path = tmp_path / "events.jsonl"
    first = _line("started", total_epochs=2) + _line("stopped", epoch=1)
    second = _line("started", total_epochs=4) + _line("epoch", epoch=2)
    path.write_text(first + second)
    off = offset_of_last_start(path)
    assert off == len(first.encode())
    names = [e.name for e in EventTail(path, offset=off).poll()]
    assert names == ["started", "epoch"]
    assert offset_of_last_start(tmp_path / "missing.jsonl") == 0
    # a log message mentioning "started" is not a start
    path.write_text(first + _line("log", level="info", message='"started" said nobody'))
    assert offset_of_last_start(path) == 0
    path.write_text(first + '{"event": "started"}')  # no trailing newline
    assert offset_of_last_start(path) == len(first.encode())


def test_read_tail_lines(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(f"line {i}\n" for i in range(1000)))
    lines = read_tail_lines(path, n=5)
    assert lines == [f"line {i}" for i in range(995, 1000)]
    assert read_tail_lines(tmp_path / "nope.log") == []
