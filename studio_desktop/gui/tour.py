"""A short, skippable tour of the window that points at the real widgets.

The tour dims the window except for one widget (a workflow step, the job area, the Help menu)
and explains it in a bubble beside it; Next (→, Enter), Back (←) and Skip tour (Esc). Each
workflow step raises its page, so the user sees the page being described. Steps come from
the page list (:data:`..pages.PAGES`): a new page gets a step without edits here (with its
tooltip as the text until it has its own below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .pages import PAGES

#: what each page is for, in a newcomer's words (pages not listed use their tooltip)
PAGE_TEXT = {
    "project": "Everything starts with a project: one task (classification, detection…) with its "
               "images and models. Create one, or a sample project to try things out.",
    "dataset": "Import images and annotations (folders, ZIP files, COCO, YOLO, CSV…), browse them, and "
               "check the data's health: class balance, duplicates, odd sizes.",
    "split": "Divide the images into training, validation and test subsets. A split is saved and never "
             "changes, so results stay comparable.",
    "training": "Choose a model and settings (every setting explains itself when you hover it), start "
                "training and watch the curves. Training runs in the background.",
    "evaluation": "See how good the model really is on images it never trained on: metrics with "
                  "confidence intervals, confusion matrix, the worst mistakes.",
    "export": "Save the trained model as ONNX (and other formats), checked against PyTorch, with a code "
              "snippet to use it in your own program.",
}


@dataclass
class TourStep:
    title: str
    text: str
    #: the widget to point at (looked up when the step is shown: pages are built lazily)
    target: Callable[[], QWidget | None]
    #: run before showing the step (raise a page)
    before: Callable[[], None] | None = None


def main_window_steps(window) -> list[TourStep]:
    """The tour of :class:`..main_window.MainWindow`: the workflow bar, each page, jobs, help."""
    bar = window.workflow
    steps = [TourStep("The workflow", "Work goes from left to right through six steps. Click a step, or "
                      "press Ctrl+1 … Ctrl+6, to show its page. Pages are tabs you can drag out and place "
                      "side by side.", lambda: bar)]
    for number, spec in enumerate(PAGES, start=1):
        action = bar.actions_by_key.get(spec.key)
        steps.append(TourStep(
            f"{number}. {spec.title}", PAGE_TEXT.get(spec.key, spec.tooltip + "."),
            lambda a=action: bar.widgetForAction(a) if a is not None else None,
            lambda k=spec.key: window.show_page(k)))
    steps.append(TourStep("Background jobs", "Training, evaluation and export run as separate processes: "
                          "the window never freezes. Running jobs appear here with their progress and a "
                          "Stop button.", lambda: getattr(window, "_job_widget", None)))
    help_menu = next((a for a in window.menuBar().actions() if a.text().replace("&", "") == "Help"), None)
    steps.append(TourStep("Help", "Help › Keyboard shortcuts lists every shortcut (F1); Help › Welcome "
                          "brings back the sample projects; About shows versions and runs a self-test.",
                          lambda: window.menuBar() if help_menu is None else _menu_button(window, help_menu)))
    return steps


class _MenuTarget(QWidget):
    """An invisible stand-in with the geometry of one menu-bar entry."""


def _menu_button(window, action) -> QWidget:
    bar = window.menuBar()
    rect = bar.actionGeometry(action)
    stand_in = bar.findChild(_MenuTarget, "tour_menu_target")
    if stand_in is None:
        stand_in = _MenuTarget(bar)
        stand_in.setObjectName("tour_menu_target")
        stand_in.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    stand_in.setGeometry(rect)
    stand_in.show()
    return stand_in


class TourOverlay(QWidget):
    """Covers the main window; paints the dimmed backdrop with a hole and hosts the bubble."""

    finished = Signal(bool)  # True when the user went through to the end, False when skipped

    MARGIN = 6

    def __init__(self, window: QWidget, steps: list[TourStep]):
        super().__init__(window)
        self.setObjectName("tour_overlay")
        self.window_ = window
        self.steps = steps
        self.index = 0
        self.target_rect = QRect()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.bubble = QFrame(self)
        self.bubble.setObjectName("tour_bubble")
        self.bubble.setFrameShape(QFrame.Shape.StyledPanel)
        self.bubble.setAutoFillBackground(True)
        self.bubble.setFixedWidth(360)
        lay = QVBoxLayout(self.bubble)
        self.counter = QLabel(self.bubble)
        self.counter.setStyleSheet("color: palette(mid);")
        self.title = QLabel(self.bubble)
        self.title.setStyleSheet("font-weight: bold; font-size: 13pt;")
        self.text = QLabel(self.bubble)
        self.text.setWordWrap(True)
        lay.addWidget(self.counter)
        lay.addWidget(self.title)
        lay.addWidget(self.text)
        row = QHBoxLayout()
        self.skip_button = QPushButton("Skip tour", self.bubble)
        self.skip_button.setToolTip("End the tour (Esc); Help › Take the tour shows it again")
        self.back_button = QPushButton("Back", self.bubble)
        self.back_button.setToolTip("The previous step (←)")
        self.next_button = QPushButton("Next", self.bubble)
        self.next_button.setToolTip("The next step (→ or Enter)")
        self.next_button.setDefault(True)
        row.addWidget(self.skip_button)
        row.addStretch(1)
        row.addWidget(self.back_button)
        row.addWidget(self.next_button)
        lay.addLayout(row)
        self.skip_button.clicked.connect(lambda: self.finish(False))
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        window.installEventFilter(self)

    # ------------------------------------------------------------------ navigation
    def start(self) -> None:
        self.setGeometry(self.window_.rect())
        self.show()
        self.raise_()
        self.show_step(0)
        self.setFocus()

    def show_step(self, index: int) -> None:
        self.index = max(0, min(index, len(self.steps) - 1))
        step = self.steps[self.index]
        if step.before is not None:
            step.before()
        self.counter.setText(f"Step {self.index + 1} of {len(self.steps)}")
        self.title.setText(step.title)
        self.text.setText(step.text)
        self.back_button.setEnabled(self.index > 0)
        self.next_button.setText("Finish" if self.index == len(self.steps) - 1 else "Next")
        self.raise_()
        self._place()

    def next(self) -> None:
        if self.index >= len(self.steps) - 1:
            self.finish(True)
        else:
            self.show_step(self.index + 1)

    def back(self) -> None:
        self.show_step(self.index - 1)

    def finish(self, completed: bool) -> None:
        self.window_.removeEventFilter(self)
        stand_in = self.window_.findChild(_MenuTarget, "tour_menu_target")
        if stand_in is not None:
            stand_in.deleteLater()
        self.hide()
        self.finished.emit(completed)
        self.deleteLater()

    # ------------------------------------------------------------------ geometry and painting
    def _place(self) -> None:
        target = self.steps[self.index].target()
        if target is not None and target.isVisible():
            top_left = target.mapTo(self.window_, QPoint(0, 0))
            self.target_rect = QRect(top_left, target.size()).adjusted(-self.MARGIN, -self.MARGIN,
                                                                       self.MARGIN, self.MARGIN)
        else:
            self.target_rect = QRect()
        self.bubble.adjustSize()
        size = self.bubble.sizeHint()
        area = self.rect()
        if self.target_rect.isNull():
            pos = area.center() - QPoint(size.width() // 2, size.height() // 2)
        else:
            below = self.target_rect.bottom() + 12
            above = self.target_rect.top() - 12 - size.height()
            y = below if below + size.height() <= area.bottom() or above < 0 else above
            x = self.target_rect.left()
            pos = QPoint(x, y)
        pos.setX(max(8, min(pos.x(), area.width() - size.width() - 8)))
        pos.setY(max(8, min(pos.y(), area.height() - size.height() - 8)))
        self.bubble.move(pos)
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.OddEvenFill)
        path.addRect(self.rect())
        if not self.target_rect.isNull():
            path.addRoundedRect(self.target_rect, 6, 6)
        painter.fillPath(path, QColor(0, 0, 0, 150))
        if not self.target_rect.isNull():
            painter.setPen(QPen(QColor(255, 187, 120), 3))
            painter.drawRoundedRect(self.target_rect, 6, 6)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window_ and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.window_.rect())
            self._place()
        return super().eventFilter(obj, event)

    def mousePressEvent(self, event) -> None:
        event.accept()  # the window under the tour is not clickable until the tour ends

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.finish(False)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.next()
        elif key == Qt.Key.Key_Left:
            self.back()
        else:
            super().keyPressEvent(event)


def start_tour(window) -> TourOverlay:
    overlay = TourOverlay(window, main_window_steps(window))
    overlay.start()
    return overlay
