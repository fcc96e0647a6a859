"""The worker protocol (DESIGN §6): one JSON object per line, flushed, on stdout and in events.jsonl.

One module for both ends: :class:`Emitter` writes events (training, evaluation, export, import,
weight downloads) and :func:`parse_line` reads them (the GUI's job runner through
``event_tail``, the import dialog from a pipe), so the two can never disagree on the format.

Every event has ``"event"`` and ``"time"`` (Unix seconds). The same lines are appended to the
experiment's ``events.jsonl`` so that a GUI that started the worker detached, or restarted
since, follows the job by tailing that file. Human-readable log lines go to stderr and to
``train.log``. Emitting is thread-safe: the training loop, the stop watchdog and the stdin
reader may all emit.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: the events a worker may print (DESIGN §6 and the training contract)
KNOWN_EVENTS = frozenset(
    {"started", "progress", "epoch", "log", "artifact", "completed", "failed", "stopped"})
#: events after which the worker has finished
TERMINAL_EVENTS = frozenset({"completed", "failed", "stopped"})


@dataclass(frozen=True)
class Event:
    """One protocol event: its name and the whole JSON object it came in."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.name in KNOWN_EVENTS

    @property
    def terminal(self) -> bool:
        return self.name in TERMINAL_EVENTS


@dataclass(frozen=True)
class Noise:
    """A line that is not a protocol event (kept so the log can show it)."""

    text: str


def parse_line(line: str) -> Event | Noise | None:
    """Parse one complete line: an :class:`Event`, :class:`Noise`, or None for a blank line."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return Noise(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        return Noise(text)
    return Event(obj["event"], obj)


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null (a NaN loss is reported by a failed event)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Emitter:
    """Writes protocol events (stdout + ``events.jsonl``) and human logs (stderr + ``train.log``)."""

    def __init__(self, events_path: str | Path | None = None, log_path: str | Path | None = None, *,
                 stdout: IO[str] | None = None, stderr: IO[str] | None = None, human: bool = False,
                 enabled: bool = True, job: str | None = None):
        self._lock = threading.Lock()
        #: the job kind stamped on every event ("evaluate", "export"...; None for training, whose
        #: events predate the field)
        self.job = job
        self._events = open(events_path, "a", encoding="utf-8") if events_path else None  # noqa: SIM115
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self._stdout = stdout if stdout is not None else sys.stdout
        self._stderr = stderr if stderr is not None else sys.stderr
        #: print events to stdout as human text instead of JSON lines (`studio train` without --json)
        self.human = human
        #: False on non-zero DDP ranks: only rank 0 speaks
        self.enabled = enabled

    def emit(self, event: str, **fields: Any) -> dict:
        record = {"event": event, "time": round(time.time(), 3), **_clean(fields)}
        if self.job is not None:
            record.setdefault("job", self.job)
        if not self.enabled:
            return record
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            if self._events is not None:
                self._events.write(line + "\n")
                self._events.flush()
            try:
                if self.human:
                    text = _human(record)
                    if text:
                        self._stdout.write(text + "\n")
                else:
                    self._stdout.write(line + "\n")
                self._stdout.flush()
            except (OSError, ValueError):
                pass  # stdout closed (parent gone): events.jsonl still has everything
        return record

    def log(self, message: str, level: str = "info") -> None:
        """A ``log`` event plus a human line in stderr and train.log."""
        self.write_log(message, level)
        self.emit("log", level=level, message=message)

    def write_log(self, message: str, level: str = "info") -> None:
        """A human line only (stderr + train.log), e.g. library chatter."""
        if not self.enabled:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {level.upper():7s} {message}"
        with self._lock:
            if self._log is not None:
                self._log.write(line + "\n")
                self._log.flush()
            try:
                if not self.human or level in ("warning", "error"):
                    self._stderr.write(line + "\n")
                    self._stderr.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        with self._lock:
            for fh in (self._events, self._log):
                if fh is not None:
                    fh.close()
            self._events = self._log = None

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fmt(metrics: dict) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
                     if k not in ("time", "kind", "epoch"))


def _human(r: dict) -> str:
    """The one-line text `studio train` prints for an event (progress is too chatty: skipped)."""
    ev = r["event"]
    job = r.get("job")
    if job not in (None, "train"):  # evaluate, export, predict, download...: the CLI prints the result
        if ev in ("started", "completed", "artifact"):
            return ""
        if ev == "stopped":
            return f"stopped: {r.get('reason') or 'stop requested'}"
    if ev == "started":
        return f"training {r.get('experiment')} for {r.get('total_epochs')} epochs (pid {r.get('pid')})"
    if ev == "epoch":
        return f"epoch {r.get('epoch')}: {_fmt(r.get('metrics') or {})}"
    if ev == "log":
        return f"{r.get('level', 'info')}: {r.get('message')}"
    if ev == "artifact":
        return f"wrote {r.get('kind')}: {r.get('path')}"
    if ev == "completed":
        s = r.get("summary") or {}
        best = s.get("best") or {}
        value = best.get("value")
        text = (f"completed: best {best.get('metric')}={value:.4g} at epoch {best.get('epoch')}"
                if isinstance(value, float) else "completed")
        test = s.get("test") or {}
        if isinstance(test.get(best.get("metric")), float):
            text += f"; on the test images {best['metric']}={test[best['metric']]:.4g} (best.ckpt)"
        return text
    if ev == "failed":
        return f"failed: {r.get('error')}" + (f" ({r['hint']})" if r.get("hint") else "")
    if ev == "stopped":
        return (f"stopped ({r.get('epoch')} whole epochs done, the place in the epoch saved); go on with "
                "`studio train PROJECT --resume EXPERIMENT`")
    return ""


class EmitterLogHandler(logging.Handler):
    """Routes library logging (Lightning's messages, Python warnings) into train.log / stderr."""

    def __init__(self, emitter: Emitter):
        super().__init__(logging.INFO)
        self.emitter = emitter

    #: library messages that say nothing about this run (advertising, hardware the app never
    #: uses, Lightning's internal bookkeeping); "GPU available: ..." stays, users ask about it
    NOISE = ("litlogger", "limit_val_batches=1.0", "TPU available:", "HPU available:",
             "to estimate number of stepping batches", "LOCAL_RANK:")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if any(k in record.getMessage() for k in self.NOISE):
                return
            level = "warning" if record.levelno >= logging.WARNING else "info"
            self.emitter.write_log(record.getMessage().strip().splitlines()[0] if record.getMessage().strip()
                                   else "", level)
        except Exception:  # noqa: BLE001 - logging must never break training
            pass


__all__ = ["Emitter", "EmitterLogHandler", "Event", "KNOWN_EVENTS", "Noise", "TERMINAL_EVENTS", "parse_line"]
