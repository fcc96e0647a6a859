"""The main window: it only assembles — one dock per page, the workflow bar, menus, status bar.

Pages come from :data:`studio_desktop.gui.pages.PAGES` ("module:Class" imported here), so the
window never names a page. A page package that does not exist yet is shown as a panel saying
so; a page that exists but fails to build is shown with its error (and logged), never a crash.
Geometry, dock layout and theme persist in QSettings.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QTabWidget, QWidget

from ..core.errors import StudioError
from ..tasks import TASKS
from . import theme
from .context import AppContext
from .pages import PAGES, PageSpec
from .pages.placeholder import MessagePanel
from .widgets.workflow_bar import WorkflowBar

log = logging.getLogger(__name__)

STATE_VERSION = 1
GEOMETRY_KEY = "window/geometry"
STATE_KEY = "window/state"
LAST_WORKSPACE_KEY = "session/workspace"
LAST_PROJECT_KEY = "session/project"
#: pages not shown at start are built this long after the window appeared
PREBUILD_DELAY_MS = 1500


def build_page(spec: PageSpec, ctx: AppContext) -> tuple[QWidget, str | None]:
    """The page widget for ``spec`` and, when it could not be built, why."""
    module_name, _, class_name = spec.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return MessagePanel(spec.title, f"The {spec.title} page is not available yet in this build. "
                                            f"{spec.tooltip}."), None
        raise
    try:
        return getattr(module, class_name)(ctx), None
    except Exception as exc:  # noqa: BLE001 - one broken page must not take the whole window down
        log.exception("the %s page failed to build", spec.title)
        reason = f"{type(exc).__name__}: {exc}"
        return MessagePanel(spec.title, f"The {spec.title} page could not be shown: {reason}"), reason


def _quiet_import(module_name: str) -> None:
    """Import ``module_name`` ahead of time; errors are left for ``build_page`` to report."""
    try:
        importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - build_page imports again and shows the reason
        log.debug("pre-import of %s failed", module_name, exc_info=True)


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        #: set by "Open workspace…": app.run_gui reopens the window on that folder
        self.requested_workspace: str | None = None
        self.setObjectName("main_window")
        self.setWindowIcon(theme.app_icon())
        self.setDockNestingEnabled(True)
        self.setDockOptions(QMainWindow.DockOption.AllowTabbedDocks | QMainWindow.DockOption.AllowNestedDocks
                            | QMainWindow.DockOption.AnimatedDocks)
        self.setTabPosition(Qt.DockWidgetArea.AllDockWidgetAreas, QTabWidget.TabPosition.North)

        self._build_jobs()
        self.docks: dict[str, QDockWidget] = {}
        self.pages: dict[str, QWidget] = {}
        #: pages that exist but failed to build: key -> reason
        self.page_errors: dict[str, str] = {}
        self._prebuild_scheduled = False
        self._importing: tuple[str, threading.Thread] | None = None
        self._build_docks()
        self.workflow = WorkflowBar(PAGES, self)
        self.workflow.stepRequested.connect(self.show_page)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.workflow)
        self._build_menus()
        self._build_status_bar()
        from .drop_import import ImportFlow
        from .welcome import remember_workspace

        #: folders and ZIP files dropped anywhere on the window, File › Import a dataset…
        self.import_flow = ImportFlow(self)
        remember_workspace(ctx.workspace.root)
        self._welcome_checked = False

        self._default_state = self.saveState(STATE_VERSION)
        self.resize(1200, 800)
        self._restore_layout()
        self.show_page(PAGES[0].key)

        ctx.projectChanged.connect(self._project_changed)
        ctx.projectUpdated.connect(lambda _p: self._update_title())
        ctx.showPageRequested.connect(self.show_page)
        self._update_title()

    # ------------------------------------------------------------------ building
    def _build_jobs(self) -> None:
        try:
            from .jobs import JobManager
            from .widgets.job_status import JobStatusArea
        except ImportError:
            self._job_widget: QWidget = QLabel("No jobs running")
            self._job_widget.setToolTip("Training, evaluation and export jobs appear here while they run")
            return
        self.ctx.jobs = JobManager(parent=self)
        self._job_widget = JobStatusArea(self.ctx.jobs)

    def _build_docks(self) -> None:
        """One dock per page. Only the first page is built now; the others are built when first
        shown, or in idle time shortly after start-up (some pages take a second to build, and
        the window should appear at once). Pages read ``ctx`` when built, so none misses state."""
        first: QDockWidget | None = None
        for spec in PAGES:
            dock = QDockWidget(spec.title, self)
            dock.setObjectName(f"dock_{spec.key}")
            # no dock tooltip: a parent's tooltip would pop up over every child of the page
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)
            dock.setWidget(MessagePanel(spec.title, "Loading…"))
            dock.visibilityChanged.connect(lambda visible, key=spec.key: self._dock_shown(key, visible))
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
            if first is None:
                first = dock
            else:
                self.tabifyDockWidget(first, dock)
            self.docks[spec.key] = dock
        self.page(PAGES[0].key)

    def page(self, key: str) -> QWidget:
        """The page widget of ``key``, built now if it was not yet."""
        if key not in self.pages:
            spec = next(p for p in PAGES if p.key == key)
            page, error = build_page(spec, self.ctx)
            if error:
                self.page_errors[key] = error
            self.pages[key] = page
            self.docks[key].setWidget(page)
        return self.pages[key]

    def build_all_pages(self) -> None:
        for spec in PAGES:
            self.page(spec.key)

    def _prebuild_next(self) -> None:
        """Build one not-yet-built page per event-loop turn, so the window stays responsive.

        A page's module is first imported in a plain thread (pyqtgraph and numpy take ~0.5 s
        to import; on the GUI thread that froze the window right after start-up); only the
        widget construction, tens of milliseconds, runs on the GUI thread once it is done."""
        missing = [p for p in PAGES if p.key not in self.pages]
        if not missing:
            return
        module_name = missing[0].factory.partition(":")[0]
        name, thread = self._importing or ("", None)
        if thread is not None and thread.is_alive():  # (sys.modules holds a module while it imports)
            QTimer.singleShot(20, self, self._prebuild_next)
            return
        if name != module_name and module_name not in sys.modules:
            thread = threading.Thread(target=_quiet_import, args=(module_name,),
                                      name=f"import {module_name}", daemon=True)
            self._importing = (module_name, thread)
            thread.start()
            QTimer.singleShot(20, self, self._prebuild_next)
            return
        # imported (or failed: build_page imports again on this thread and shows the reason)
        self.page(missing[0].key)
        if len(missing) > 1:
            QTimer.singleShot(50, self, self._prebuild_next)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._prebuild_scheduled:
            self._prebuild_scheduled = True
            QTimer.singleShot(PREBUILD_DELAY_MS, self, self._prebuild_next)
        if not self._welcome_checked:
            self._welcome_checked = True
            QTimer.singleShot(0, self, self._welcome_if_empty)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.new_project_action = self._action(file_menu, "&New project…", "Create a new project",
                                               self._new_project, QKeySequence.StandardKey.New)
        self.new_project_action.setEnabled(not self.ctx.read_only)
        self.import_action = self._action(
            file_menu, "&Import a dataset…", "Import a folder or ZIP of images into the open project "
            "(or one you choose); you can also drop it anywhere on the window",
            lambda: self.import_flow.start(), QKeySequence("Ctrl+I"))
        self.import_action.setEnabled(not self.ctx.read_only)
        self._action(file_menu, "&Open workspace…", "Switch to another workspace folder (restarts the window)",
                     self._open_workspace, QKeySequence("Ctrl+Shift+O"))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", "Close AI Studio", self.close, QKeySequence.StandardKey.Quit)

        view = bar.addMenu("&View")
        pages_menu = view.addMenu("&Pages")
        for key, dock in self.docks.items():
            toggle = dock.toggleViewAction()
            toggle.setObjectName(f"toggle_{key}")
            toggle.setToolTip(f"Show or hide the {dock.windowTitle()} page")
            pages_menu.addAction(toggle)
        theme_menu = view.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        current = theme.saved_theme()
        self.theme_actions: dict[str, QAction] = {}
        for mode, label in theme.THEMES.items():
            a = theme_menu.addAction(label)
            a.setCheckable(True)
            a.setChecked(mode == current)
            a.setToolTip({"system": "Use light or dark colours like the rest of your desktop",
                          "light": "Always use light colours", "dark": "Always use dark colours"}[mode])
            a.triggered.connect(lambda _c=False, m=mode: theme.apply_theme(m, save=True))
            self.theme_group.addAction(a)
            self.theme_actions[mode] = a
        view.addSeparator()
        self.reset_layout_action = self._action(view, "&Reset layout", "Put every page back as tabs in one window",
                                                self.reset_layout)

        tools = bar.addMenu("&Tools")
        self.weights_action = self._action(tools, "Pretrained &weights…", "Download, import or delete the "
                                           "pretrained weights models start from", self.show_weights)
        help_menu = bar.addMenu("&Help")
        for menu in (file_menu, view, pages_menu, theme_menu, tools, help_menu):
            menu.setToolTipsVisible(True)
        self._action(help_menu, "&Welcome", "Sample projects, importing your data, recent workspaces",
                     self.show_welcome)
        self._action(help_menu, "Take the &tour", "A short walk through the six pages", self.start_tour)
        self._action(help_menu, "&Keyboard shortcuts", "List the keyboard shortcuts", self._show_shortcuts,
                     QKeySequence("F1"))
        help_menu.addSeparator()
        self._action(help_menu, "&About AI Studio", "Versions, compute devices, workspace, self-test",
                     self._show_about)

    def _action(self, menu, text: str, tip: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        return action

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        status.addPermanentWidget(self._job_widget)
        if self.ctx.read_only:
            label = QLabel("Read-only")
            label.setToolTip(self.ctx.workspace.read_only_reason or "This workspace is open read-only")
            status.addPermanentWidget(label)

    # ------------------------------------------------------------------ pages and layout
    def show_page(self, key: str) -> None:
        dock = self.docks.get(key)
        if dock is None:
            return
        self.page(key)
        dock.show()
        dock.raise_()
        self.workflow.set_current(key)

    def _dock_shown(self, key: str, visible: bool) -> None:
        if visible:
            # checked after Qt has laid the tabs out: a tab merely un-hidden behind another one
            # (no visible region) does not count as shown
            QTimer.singleShot(0, self, lambda: self._dock_raised(key))

    def _dock_raised(self, key: str) -> None:
        dock = self.docks[key]
        if dock.isVisible() and (dock.isFloating() or not dock.visibleRegion().isEmpty()):
            self.page(key)
            self.workflow.set_current(key)

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
        self.restoreState(self._default_state, STATE_VERSION)
        self.show_page(PAGES[0].key)

    def _restore_layout(self) -> None:
        s = theme.settings()
        geometry = s.value(GEOMETRY_KEY)
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        state = s.value(STATE_KEY)
        if isinstance(state, QByteArray | bytes) and state:
            self.restoreState(QByteArray(state), STATE_VERSION)

    def save_layout(self) -> None:
        s = theme.settings()
        s.setValue(GEOMETRY_KEY, self.saveGeometry())
        s.setValue(STATE_KEY, self.saveState(STATE_VERSION))
        s.sync()

    # ------------------------------------------------------------------ project
    def _project_changed(self, project) -> None:
        s = theme.settings()
        s.setValue(LAST_WORKSPACE_KEY, str(self.ctx.workspace.root))
        s.setValue(LAST_PROJECT_KEY, project.id if project is not None else "")
        self._update_title()
        if project is not None:
            self.statusBar().showMessage(f"Opened project '{project.name}'", 5000)

    def reopen_last_project(self) -> None:
        """Open the project that was open when the app last closed on this workspace."""
        s = theme.settings()
        if str(s.value(LAST_WORKSPACE_KEY, "")) != str(self.ctx.workspace.root):
            return
        project_id = str(s.value(LAST_PROJECT_KEY, "") or "")
        if not project_id:
            return
        try:
            project = self.ctx.projects.get(project_id)
        except StudioError:
            return  # deleted or unreadable since: start on the project list
        self.ctx.open_project(project)

    def _update_title(self) -> None:
        title = "AI Studio"
        project = self.ctx.project
        if project is not None:
            task = TASKS.get(project.task)
            title += f" — {project.name} ({task.display_name if task else project.task})"
        if self.ctx.read_only:
            title += " [read-only]"
        self.setWindowTitle(title)

    # ------------------------------------------------------------------ menu actions
    def _new_project(self) -> None:
        self.show_page("project")
        create = getattr(self.page("project"), "create_project", None)
        if create is not None:
            create()

    def _open_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace", str(self.ctx.workspace.root))
        if folder:
            self.switch_workspace(folder)

    def show_weights(self):
        from .widgets.weights_dialog import WeightsDialog

        dialog = WeightsDialog(self.ctx, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _show_shortcuts(self):
        from .shortcuts_help import ShortcutsDialog

        self.build_all_pages()  # page actions (Delete, F2…) are listed too
        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _show_about(self):
        from .about import AboutDialog

        dialog = AboutDialog(str(self.ctx.workspace.root), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ first run
    def _welcome_if_empty(self) -> None:
        from .welcome import show_when_empty

        if show_when_empty() and not self.ctx.projects.list() and not self.ctx.read_only:
            self.show_welcome()

    def show_welcome(self):
        """The welcome screen (Help › Welcome; at start when the workspace has no projects)."""
        from .welcome import open_welcome

        return open_welcome(self)

    def start_tour(self):
        from .tour import start_tour

        return start_tour(self)

    def switch_workspace(self, folder: str) -> None:
        """Reopen the window on another workspace (app.run_gui does it after the close)."""
        self.requested_workspace = folder
        self.close()
        if self.isVisible():  # the user kept the window (jobs running)
            self.requested_workspace = None

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        jobs = self.ctx.jobs
        if jobs is not None and not jobs.confirm_close(self):
            event.ignore()
            return
        self.save_layout()
        event.accept()
