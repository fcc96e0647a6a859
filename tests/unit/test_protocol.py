"""Protocol events: one valid JSON object per line with "event" and "time", from many threads."""

from __future__ import annotations

import io
import json
import threading

from studio_desktop.core.protocol import Emitter


def test_every_line_is_json_with_event_and_time(tmp_path):
    out = io.StringIO()
    err = io.StringIO()
    em = Emitter(tmp_path / "events.jsonl", tmp_path / "train.log", stdout=out, stderr=err)

    def spam(k):
        for i in range(200):
            em.emit("progress", step=i, total=200, eta_s=1.0, metrics={"train_loss": float("nan") if i == 5 else 0.5,
                                                                        "worker": k})

    threads = [threading.Thread(target=spam, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    em.log("hello", "warning")
    em.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 801
    records = [json.loads(line) for line in lines]  # fails on any interleaved/torn line
    assert all(isinstance(r["event"], str) and isinstance(r["time"], float) for r in records)
    assert (tmp_path / "events.jsonl").read_text().splitlines() == lines
    nan = [r for r in records if r["event"] == "progress" and r["step"] == 5]
    assert len(nan) == 4 and all(r["metrics"]["train_loss"] is None for r in nan)  # NaN is not JSON
    assert "WARNING hello" in (tmp_path / "train.log").read_text() and "hello" in err.getvalue()


def test_human_mode_prints_readable_lines(tmp_path):
    out = io.StringIO()
    em = Emitter(tmp_path / "events.jsonl", None, stdout=out, stderr=io.StringIO(), human=True)
    em.emit("epoch", epoch=3, metrics={"train_loss": 0.25, "val_accuracy": 0.9})
    em.emit("progress", step=1, total=2, eta_s=0.0)
    em.emit("failed", error="loss became NaN at epoch 1 step 2", hint="lower the learning rate")
    em.emit("completed", summary={"best": {"metric": "accuracy", "value": 1 / 3, "epoch": 2},
                                  "test": {"accuracy": 0.9666666666}})
    text = out.getvalue()
    assert "epoch 3: train_loss=0.25  val_accuracy=0.9" in text
    assert "failed: loss became NaN at epoch 1 step 2 (lower the learning rate)" in text
    assert "completed: best accuracy=0.3333 at epoch 2; on the test images accuracy=0.9667 (best.ckpt)" in text
    assert "progress" not in text
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 4  # the file keeps JSON


def test_library_chatter_reaches_the_log_without_the_noise(tmp_path):
    import logging

    from studio_desktop.core.protocol import EmitterLogHandler

    em = Emitter(tmp_path / "events.jsonl", tmp_path / "train.log", stdout=io.StringIO(), stderr=io.StringIO())
    logger = logging.getLogger("studio-test-chatter")
    logger.propagate = False
    logger.addHandler(EmitterLogHandler(em))
    logger.setLevel(logging.INFO)
    for message in ("GPU available: False, used: False", "TPU available: False, using: 0 TPU cores",
                    "Loading `train_dataloader` to estimate number of stepping batches.",
                    "`Trainer.fit` stopped: `max_epochs=3` reached."):
        logger.info(message)
    logger.warning("something odd\nsecond line")
    em.close()
    lines = (tmp_path / "train.log").read_text().splitlines()
    assert [line.split(maxsplit=3)[2:] for line in lines] == [
        ["INFO", "GPU available: False, used: False"],
        ["INFO", "`Trainer.fit` stopped: `max_epochs=3` reached."],
        ["WARNING", "something odd"]]
