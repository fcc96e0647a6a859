"""The self-test: does this installation really work, end to end? (``ai-studio --self-test``)

In a temporary workspace, for every task the registry says can be trained, it makes a sample
project and walks the product's workflow through the command line: sample, project, import,
split, one short training run, evaluation, ONNX export with its validation, prediction of one
image. Each step runs as a separate process of *this same executable* (``sys.executable``;
in the PyInstaller bundle that is the app itself), exactly as the desktop app starts its
workers, so a bundle that misses a library fails here, not in a user's first training. Two
checks come first: that a ``spawn`` child process starts (what DataLoader workers and
``freeze_support`` rely on on Windows and macOS) and that the main window opens (offscreen).

Every step prints its time. A step the running version cannot do yet (say, export before it
exists) is reported as *not available* with the program's own reason: never silently passed.
The exit status is 0 only when no step failed.

Plain Python without torch or Qt: the About dialog's "Run self-test" (gui/selftest_dialog.py)
runs ``--self-test --json`` and shows the same steps live from its JSON lines.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__

PASSED, FAILED, UNAVAILABLE = "passed", "failed", "not available"
#: seconds any single step may take before it counts as failed (a stuck worker must not hang CI)
STEP_TIMEOUT_S = 900.0
#: sample images per task (small: the point is that every stage runs, not accuracy)
SAMPLE_IMAGES = 24
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class StepFailed(Exception):
    """A step did not work; the message is the one line the user sees."""


class StepUnavailable(Exception):
    """This version cannot do the step (the program said so); reported, not counted as passed."""


@dataclass
class StepResult:
    task: str
    step: str
    title: str
    status: str
    seconds: float
    detail: str = ""


@dataclass
class Summary:
    results: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def ok(self) -> bool:
        return self.count(FAILED) == 0 and self.count(PASSED) > 0


def app_command(*args: str) -> list[str]:
    """The command line that runs this program with ``args``: the bundle's executable itself
    when frozen, else ``python -m studio_desktop``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "studio_desktop", *args]


Runner = Callable[[list[str], dict, float], "subprocess.CompletedProcess[str]"]


class _Interrupted(Exception):
    pass


class SelfTest:
    """Runs the steps; ``report(event)`` receives each step as it starts and ends."""

    def __init__(self, folder: Path, tasks: list[str], *, device: str = "auto",
                 report: Callable[[dict], None] = lambda e: None, runner: Runner | None = None,
                 gui: bool = True):
        self.folder = Path(folder)
        self.workspace = self.folder / "workspace"
        self.tasks = tasks
        self.device = device
        self.report = report
        self.gui = gui
        self.runner = runner or self._run_process
        self._child: subprocess.Popen | None = None

    # ------------------------------------------------------------------ running commands
    def _run_process(self, cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess[str]:
        self._child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       env=env, cwd=str(self.folder), stdin=subprocess.DEVNULL)
        try:
            out, err = self._child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            out, err = self._child.communicate()
            raise StepFailed(f"did not finish within {timeout:.0f} s") from None
        finally:
            child, self._child = self._child, None
        return subprocess.CompletedProcess(cmd, child.returncode, out, err)

    def stop_child(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()

    def studio(self, *args: str, env: dict | None = None, timeout: float = STEP_TIMEOUT_S,
               workspace: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one command of this program; a non-zero exit raises with its one-line reason."""
        cmd = app_command(*(("--workspace", str(self.workspace)) if workspace else ()), *args)
        environment = dict(os.environ, **(env or {}))
        environment.pop("STUDIO_WORKSPACE", None)
        done = self.runner(cmd, environment, timeout)
        if done.returncode != 0:
            reason = last_error_line(done.stderr) or last_error_line(done.stdout) or f"exit status {done.returncode}"
            if re.search(r"not available (yet )?in this version", reason):
                raise StepUnavailable(reason.removeprefix("error: "))
            raise StepFailed(reason)
        return done

    # ------------------------------------------------------------------ the plan
    def run(self) -> Summary:
        summary = Summary()
        start = time.perf_counter()
        planned = 1 + int(self.gui) + len(self.tasks) * len(self.task_steps())
        self.report({"event": "begin", "version": __version__, "folder": str(self.folder), "tasks": self.tasks,
                     "steps": planned, "device": self.device, "executable": sys.executable,
                     "frozen": bool(getattr(sys, "frozen", False))})
        try:
            self._step(summary, "", "processes", "Start a background process (spawn)", check_spawn)
            if self.gui:
                self._step(summary, "", "window", "Open the main window (offscreen)", self.check_window)
            for task in self.tasks:
                self.report({"event": "task", "task": task, "title": _task_title(task)})
                state: dict = {}
                for key, title, fn in self.task_steps():
                    if not self._step(summary, task, key, title, functools.partial(fn, task, state)):
                        if key in ("sample", "project", "import", "split", "train"):
                            break  # later steps need this one
        except _Interrupted:
            summary.results.append(StepResult("", "interrupted", "Interrupted", FAILED, 0.0, "stopped by the user"))
        summary.seconds = time.perf_counter() - start
        self.report({"event": "end", "ok": summary.ok, "passed": summary.count(PASSED),
                     "failed": summary.count(FAILED), "not_available": summary.count(UNAVAILABLE),
                     "seconds": round(summary.seconds, 2)})
        return summary

    def task_steps(self):
        return [
            ("sample", "Create a sample dataset", self.make_sample),
            ("project", "Create a project", self.make_project),
            ("import", "Import the sample", self.import_sample),
            ("split", "Split into train / validation / test", self.split),
            ("train", "Train one short run", self.train),
            ("evaluate", "Evaluate the trained model", self.evaluate),
            ("export", "Export ONNX and validate it", self.export),
            ("openvino", "Export OpenVINO and validate it", self.export_openvino),
            ("predict", "Predict one image", self.predict),
        ]

    def _step(self, summary: Summary, task: str, key: str, title: str, fn: Callable[[], str]) -> bool:
        self.report({"event": "step", "task": task, "step": key, "title": title, "status": "running"})
        t0 = time.perf_counter()
        try:
            detail, status = fn() or "", PASSED
        except StepUnavailable as exc:
            detail, status = str(exc), UNAVAILABLE
        except StepFailed as exc:
            detail, status = str(exc), FAILED
        except KeyboardInterrupt:
            raise _Interrupted from None
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure as a step
            detail, status = f"{type(exc).__name__}: {exc}", FAILED
        result = StepResult(task, key, title, status, round(time.perf_counter() - t0, 2), detail)
        summary.results.append(result)
        self.report({"event": "step", **asdict(result)})
        return status != FAILED

    # ------------------------------------------------------------------ steps
    def check_window(self) -> str:
        launched = time.time()
        done = self.studio(env={"QT_QPA_PLATFORM": "offscreen", "STUDIO_STARTUP_PROBE": "1"}, timeout=180)
        shown = [ln for ln in done.stdout.splitlines() if ln.startswith("SHOWN ")]
        if not shown:
            raise StepFailed("the window did not report that it was shown")
        return f"shown {float(shown[-1].split()[1]) - launched:.1f} s after start"

    def make_sample(self, task: str, state: dict) -> str:
        from .tasks import TASKS

        out = self.folder / f"sample-{task}"
        images = int(TASKS[task].extra.get("self_test_images", SAMPLE_IMAGES))
        data = _json(self.studio("sample", "--task", task, str(out), "--images", str(images), "--json",
                                 workspace=False).stdout)
        state["sample"] = out
        return f"{data.get('files', '?')} files"

    def make_project(self, task: str, state: dict) -> str:
        state["project"] = f"self-test {task}"
        data = _json(self.studio("project", "create", state["project"], "--task", task, "--json").stdout)
        return f"id {data.get('id', '?')}"

    def import_sample(self, task: str, state: dict) -> str:
        done = self.studio("dataset", "import", state["project"], str(state["sample"]))
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("imported ")]
        return lines[-1] if lines else "imported"

    def split(self, task: str, state: dict) -> str:
        data = _json(self.studio("split", "create", state["project"], "--json").stdout)
        stats = data.get("stats") or {}
        return ", ".join(f"{subset} {s.get('images', '?')}" for subset, s in stats.items()) or "saved"

    def train(self, task: str, state: dict) -> str:
        state["experiment"] = "self-test"
        model, settings = training_settings(task)
        sets = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
        done = self.studio("train", state["project"], "--name", state["experiment"], "--model", model,
                           "--epochs", "1", "--device", self.device, *sets)
        last = [ln for ln in done.stdout.splitlines() if ln.startswith("completed")]
        return f"{model}, 1 epoch" + (f"; {last[-1]}" if last else "")

    def evaluate(self, task: str, state: dict) -> str:
        self.studio("evaluate", state["project"], state["experiment"], "--device", self.device)
        return "evaluation written"

    def export(self, task: str, state: dict) -> str:
        path, detail = self._export(state, "onnx")
        state["model_file"] = path
        return detail

    def export_openvino(self, task: str, state: dict) -> str:
        return self._export(state, "openvino")[1]

    def _export(self, state: dict, fmt: str) -> tuple[Path, str]:
        """Export through ``studio export`` (which runs the file back against PyTorch)."""
        record = _json(self.studio("export", state["project"], state["experiment"], "--format", fmt,
                                   "--json").stdout)
        if not isinstance(record, dict) or record.get("status") != "ready":
            reason = record.get("error") if isinstance(record, dict) else None
            raise StepFailed(f"the export is not ready: {reason or 'no export record'}")
        validation = record.get("validation") or {}
        if not validation.get("passed"):
            raise StepFailed("the exported model did not pass its validation against PyTorch")
        # experiments/<exp>/exports/<export-id>/<file> (DESIGN §4)
        path = (self.workspace / "projects" / record["project_id"] / "experiments" / record["experiment_id"]
                / "exports" / record["id"] / record["file"])
        if not path.is_file():
            raise StepFailed(f"the export record names {path}, which does not exist")
        agreement = validation.get("agreement")
        diff = validation.get("max_abs_diff")
        return path, (f"{record['file']}, {validation.get('images', '?')} images checked"
                      + (f", max |diff| {diff:.1e}" if isinstance(diff, int | float) else "")
                      + (f", {agreement:.0%} same decisions" if isinstance(agreement, int | float) else ""))

    def predict(self, task: str, state: dict) -> str:
        image = first_image(state["sample"])
        if image is None:
            raise StepFailed(f"no image found in {state['sample']}")
        model = state.get("model_file")
        where = [str(model)] if model else [state["experiment"], "--project", state["project"]]
        data = _json(self.studio("predict", *where, str(image), "--json",
                                 "--out", str(self.folder / f"predictions-{task}")).stdout)
        rows = data.get("predictions", [])
        if not rows or not rows[0].get("ok"):
            raise StepFailed(f"no prediction for {image.name}")
        kind = "exported model" if state.get("model_file") else "checkpoint"
        return f"{image.name} with the {kind}"


# ---------------------------------------------------------------------- helpers
def _echo(queue) -> None:
    queue.put(os.getpid())


def check_spawn() -> str:
    """A ``spawn`` child (a fresh interpreter, or the bundle re-run with multiprocessing's
    arguments that ``freeze_support`` intercepts) starts and answers."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_echo, args=(queue,), daemon=True)
    child.start()
    try:
        pid = queue.get(timeout=120)
    except Exception:  # noqa: BLE001 - queue.Empty or a broken pipe: the child did not answer
        raise StepFailed("a spawned child process did not answer within 120 s") from None
    finally:
        child.join(timeout=30)
    if child.exitcode != 0:
        raise StepFailed(f"the spawned child process exited with status {child.exitcode}")
    return f"child pid {pid}"


def training_settings(task: str) -> tuple[str, dict]:
    """The smallest model of the task's catalog and settings for a seconds-long run (a task may
    override them with ``extra={"self_test_settings": {...}}`` in the registry)."""
    from .core.train_config import MODEL_CATALOG
    from .tasks import TASKS

    models = MODEL_CATALOG.get(task) or []
    if not models:
        raise StepFailed(f"the model catalog has no {task} model")
    smallest = min(models, key=lambda m: m.params_millions)
    settings = {"pretrained": "false", "input_size": min(smallest.default_input_size, 64),
                "batch_size": 4, "num_workers": 1}
    settings.update(TASKS[task].extra.get("self_test_settings", {}))
    return str(settings.pop("model", smallest.name)), settings


def trainable_tasks() -> list[str]:
    from .tasks import TASKS

    return [t.id for t in TASKS.values() if t.trainable]


#: sample folders that hold annotations drawn as images (masks), not pictures to predict
ANNOTATION_FOLDERS = frozenset({"ground_truth", "masks", "labels", "annotations"})


def first_image(folder: Path) -> Path | None:
    """The first picture of a sample dataset, skipping its mask folders."""
    root = Path(folder)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() \
                and not ANNOTATION_FOLDERS & {p.lower() for p in path.relative_to(root).parts[:-1]}:
            return path
    return None


def last_error_line(text: str) -> str:
    """The one line that says what went wrong: the program's ``error:`` line, else the exception
    of a traceback (a crash in the bundle ends with PyInstaller's own "Failed to execute" line,
    which names nothing), else the last line."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("error:"):
            return ln
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b(:|$)", ln):
            return ln
    lines = [ln for ln in lines if not ln.startswith("[PYI-")] or lines
    return lines[-1] if lines else ""


def _json(text: str):
    """The JSON document a ``--json`` command printed (it may be preceded by other lines)."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        start = text.find("{")
        if start >= 0:
            try:
                return json.loads(text[start:])
            except ValueError:
                pass
    raise StepFailed("the command did not print the expected JSON")


def _task_title(task: str) -> str:
    from .tasks import TASKS

    return TASKS[task].display_name


# ---------------------------------------------------------------------- text output and entry point
STATUS_MARK = {PASSED: "[ ok ]", FAILED: "[FAIL]", UNAVAILABLE: "[ -- ]"}


def print_event(event: dict, out=None) -> None:
    out = out or sys.stdout
    kind = event["event"]
    if kind == "begin":
        print(f"AI Studio {event['version']} self-test in {event['folder']} (device: {event['device']}, "
              f"{'bundle' if event['frozen'] else 'Python'} {event['executable']})", file=out)
    elif kind == "task":
        print(f"{event['title']} ({event['task']})", file=out)
    elif kind == "step" and event["status"] != "running":
        detail = f"  {event['detail']}" if event["detail"] else ""
        print(f"  {STATUS_MARK[event['status']]} {event['seconds']:6.1f} s  {event['title']}{detail}", file=out)
    elif kind == "end":
        verdict = "passed" if event["ok"] else "FAILED"
        print(f"self-test {verdict}: {event['passed']} passed, {event['failed']} failed, "
              f"{event['not_available']} not available in this version, {event['seconds']:.1f} s", file=out)
    out.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ai-studio --self-test",
                                description="Check this installation end to end in a temporary workspace.")
    p.add_argument("--json", action="store_true", help="print one JSON object per line (for the app)")
    p.add_argument("--task", action="append", metavar="TASK",
                   help="test only this task (repeatable; default: every task this version can train)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train (default auto)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace and print where it is")
    p.add_argument("--no-window", action="store_true", help="skip the main-window check")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tasks = args.task or trainable_tasks()
    from .tasks import TASKS

    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        print(f"error: unknown task {', '.join(unknown)}; choose from: {', '.join(TASKS)}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="ai-studio-selftest-"))

    def report(event: dict) -> None:
        if args.json:
            print(json.dumps(event), flush=True)
        else:
            print_event(event)

    test = SelfTest(folder, tasks, device=args.device, report=report, gui=not args.no_window)

    def on_term(_sig, _frame):  # the dialog's Stop: end the current step's process too
        test.stop_child()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        summary = test.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.keep:
            print(f"kept the self-test workspace: {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if summary.ok else 1
