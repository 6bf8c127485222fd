"""GUI test fixtures: isolated settings and data folders, a window factory, leak checks."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QThread, QTimer  # noqa: E402


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every GUI test gets its own data, models and QSettings folders."""
    monkeypatch.setenv("COLORSTUDIO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path / "models"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    # Closing a window with unsaved edits asks; tests answer "close without saving" unless they say otherwise.
    from colorstudio.gui import dialogs
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
    monkeypatch.setattr(dialogs, "ask_stop_export", lambda parent: True)
    yield tmp_path


@pytest.fixture(autouse=True)
def no_leaked_threads(monkeypatch):
    """Fail a test that leaves a QThread running or a QTimer ticking after its windows closed."""
    started: list[QThread] = []
    original_start = QThread.start

    def tracking_start(self, *args):
        started.append(self)
        return original_start(self, *args)

    monkeypatch.setattr(QThread, "start", tracking_start)
    timers: list[QTimer] = []
    original_timer_start = QTimer.start

    def tracking_timer_start(self, *args):
        timers.append(self)
        return original_timer_start(self, *args)

    monkeypatch.setattr(QTimer, "start", tracking_timer_start)
    yield
    from colorstudio.gui.compute import ComputeThread
    leaked = [t for t in started if _alive(t) and t.isRunning()] + ComputeThread.running_threads()
    for t in leaked:
        try:
            t.quit()
            t.wait(5000)
        except RuntimeError:
            pass
    assert not leaked, f"threads still running after the test: {leaked}"
    ticking = [t for t in timers if _alive(t) and t.isActive()]
    assert not ticking, f"timers still active after the test: {[t.objectName() or t for t in ticking]}"


def _alive(obj) -> bool:
    try:
        import shiboken6
        return shiboken6.isValid(obj)
    except ImportError:  # pragma: no cover
        return True


@pytest.fixture
def make_window(qtbot):
    """Build MainWindows that are closed (and checked for leaks) after the test."""
    from colorstudio.gui.main_window import MainWindow
    windows = []

    def make(engine=None, **kwargs):
        win = MainWindow(engine=engine, **kwargs)
        qtbot.addWidget(win)
        win.resize(1100, 760)
        win.show()
        qtbot.waitExposed(win)
        # Shortcuts only reach the active window; offscreen windows are not activated by showing.
        win.activateWindow()
        qtbot.waitUntil(win.isActiveWindow, timeout=5000)
        windows.append(win)
        return win

    yield make
    for win in windows:
        try:
            win.close()
        except RuntimeError:
            pass
