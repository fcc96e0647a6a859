"""Follow a worker's ``events.jsonl`` (DESIGN §6 protocol) without Qt.

The GUI starts training workers detached and follows them by reading the file they append
their protocol events to, so that a job survives the GUI closing and a restarted GUI can
re-attach. Reading a file that another process is appending to has three hazards that this
class handles, which is why it is kept apart from Qt and unit-tested on its own:

* a line may be read half-written (the writer flushed part of it): the partial tail is
  buffered until its newline arrives;
* the file may contain noise (a stray ``print``, a torn line after a crash, a blank line):
  such lines are returned as :class:`Noise`, never raised;
* the file may not exist yet (the worker has not started) or be replaced: ``poll`` then
  returns nothing and tries again next time.
"""

from __future__ import annotations

import os
from pathlib import Path

from .protocol import KNOWN_EVENTS, TERMINAL_EVENTS, Event, Noise, parse_line


class EventTail:
    """Incremental reader of a growing JSON-lines file.

    ``poll()`` returns the events (and noise) completed since the last call. ``max_bytes``
    bounds the work done per call so that the GUI thread never stalls on a huge backlog
    (re-attaching to a long run): the rest is read on the next calls.
    """

    def __init__(self, path: str | Path, offset: int = 0, max_bytes: int = 1 << 20):
        self.path = Path(path)
        self.offset = offset
        self.max_bytes = max_bytes
        self._partial = b""

    @property
    def pending_partial(self) -> bool:
        """True while a line has been started but its newline has not arrived yet."""
        return bool(self._partial)

    def poll(self) -> list[Event | Noise]:
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:  # the file was replaced or truncated: start over
                    self.offset = 0
                    self._partial = b""
                fh.seek(self.offset)
                chunk = fh.read(self.max_bytes)
        except FileNotFoundError:
            return []
        except OSError:
            return []  # transient (Windows sharing violation...): retry next poll
        if not chunk:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when the chunk ended on a newline
        out: list[Event | Noise] = []
        for raw in lines:
            item = parse_line(raw.decode("utf-8", errors="replace"))
            if item is not None:
                out.append(item)
        return out

    def flush_partial(self) -> list[Event | Noise]:
        """Treat a buffered unterminated line as complete (the writer is known to be gone).

        A worker killed mid-write leaves a torn final line: it comes back as :class:`Noise`
        (or as an event if it happens to be valid JSON), never as an exception.
        """
        raw, self._partial = self._partial, b""
        item = parse_line(raw.decode("utf-8", errors="replace"))
        return [item] if item is not None else []


def offset_of_last_start(path: str | Path) -> int:
    """Byte offset of the last ``started`` event in ``path`` (0 when there is none).

    A resumed experiment appends a second run to the same ``events.jsonl``; re-attaching
    must follow the current run, not replay the earlier run's ``stopped``. The file of a long
    run holds many thousands of lines, so only lines containing ``"started"`` are parsed,
    searching backwards from the end.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return 0
    end = len(data)
    while True:
        hit = data.rfind(b'"started"', 0, end)
        if hit < 0:
            return 0
        start = data.rfind(b"\n", 0, hit) + 1
        stop = data.find(b"\n", hit)
        line = data[start: stop if stop >= 0 else len(data)]
        item = parse_line(line.decode("utf-8", errors="replace"))
        if isinstance(item, Event) and item.name == "started":
            return start
        end = start


def file_size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def read_tail_lines(path: str | Path, n: int = 200, max_bytes: int = 256 * 1024) -> list[str]:
    """The last ``n`` lines of a text file, reading at most ``max_bytes`` from its end."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if len(data) >= max_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    return lines[-n:]


__all__ = ["Event", "EventTail", "KNOWN_EVENTS", "Noise", "TERMINAL_EVENTS", "file_size",
           "offset_of_last_start", "parse_line", "read_tail_lines"]
