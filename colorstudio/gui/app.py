"""Starting the desktop app, and rendering it offscreen to a PNG (for the README's screenshot).

Only Qt and the light core are imported before the window shows; torch and the engines are
imported on the compute thread when the first preview is asked for.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

log = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_S = 120


def make_app(argv: Optional[Sequence[str]] = None):
    """The QApplication (created once), named so QSettings and the desktop find it."""
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName("Colorstudio")
    app.setApplicationName("Colorstudio")
    app.setApplicationDisplayName("Colorstudio")
    app.setDesktopFileName("io.github.colorstudio.Colorstudio")  # packaging/linux/<id>.desktop
    from .resources import app_icon
    app.setWindowIcon(app_icon())
    return app


def _quiet_offscreen_notices() -> None:
    """Drop the offscreen plugin's notice about size hints, so a refusal is the only stderr line."""
    from PySide6.QtCore import qInstallMessageHandler
    previous = None

    def handler(kind, context, message):
        if "does not support propagateSizeHints" in message:
            return
        if previous is not None:
            previous(kind, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)


def run(photos: Sequence[str] = (), *, screenshot: Optional[str] = None, hints: Optional[str] = None,
        size: tuple[int, int] = (1280, 820)) -> int:
    """Open the window (with ``photos[0]`` and ``hints`` if given) and run until it closes.

    With ``screenshot``, the window is rendered offscreen once the preview has been painted,
    saved as a PNG at ``screenshot`` and the app exits; the user's settings and autosaves
    are left untouched. Returns the process exit status.
    """
    if screenshot is not None and not os.environ.get("QT_QPA_PLATFORM"):
        from PySide6.QtWidgets import QApplication
        if QApplication.instance() is None:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
    t0 = time.perf_counter()
    from PySide6.QtWidgets import QApplication
    owns_app = QApplication.instance() is None
    if screenshot is not None and owns_app:
        _quiet_offscreen_notices()
    app = make_app()
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from ..core.document import AutosaveStore
    from .main_window import MainWindow

    tmp = None
    kwargs = {}
    if screenshot is not None:
        tmp = tempfile.TemporaryDirectory(prefix="colorstudio-shot-")
        kwargs = {"qsettings": QSettings(str(Path(tmp.name) / "shot.ini"), QSettings.Format.IniFormat),
                  "autosave": AutosaveStore(Path(tmp.name) / "autosave")}
    win = MainWindow(**kwargs)
    if screenshot is not None:
        win.resize(*size)
    win.show()
    log.info("window shown %.2f s after the app started", time.perf_counter() - t0)
    status = {"code": 0}

    def start() -> None:
        if photos:
            for extra in reversed(list(photos[1:])):
                win.recent.add(str(Path(extra).resolve()))
            # The window stays responsive while the photo opens; the rest follows when it has.
            win.photo_open_finished.connect(photo_opened)
            win.open_photo(photos[0], wait=False)
        else:
            continue_after_photo()

    def photo_opened(ok: bool) -> None:
        win.photo_open_finished.disconnect(photo_opened)
        if not ok:
            if screenshot is not None:
                # The message as written (a file name keeps its case); a bad photo is the user's to fix.
                print(f"colorstudio: {win.message_bar.last_text}", file=sys.stderr)
                status["code"] = 2
                finish()
            return
        continue_after_photo()

    def continue_after_photo() -> None:
        if hints:
            if not win.open_document(hints) and screenshot is not None:
                print(f"colorstudio: {win.message_bar.last_text}", file=sys.stderr)
                status["code"] = 2
                finish()
                return
        if screenshot is not None:
            if win.editor.hints.points:
                # Show a selected hint so the palette appears at that pixel's lightness.
                win.editor.select(("point", len(win.editor.hints.points) - 1))
            if win.workspace.photo is None:
                QTimer.singleShot(200, win, take)
            else:
                win.canvas.result_painted.connect(lambda: QTimer.singleShot(50, win, take))
                QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, win, take)

    taken = {"done": False}

    def take() -> None:
        if taken["done"]:
            return
        # Wait for the full-quality preview rather than a drag-sized one.
        if win.compute.busy and not taken.get("waited"):
            taken["waited"] = True
            win.compute.busy_changed.connect(lambda busy: busy or QTimer.singleShot(50, win, take))
            return
        taken["done"] = True
        image = win.grab().toImage()
        from ..core.atomic import atomic_path
        try:
            with atomic_path(screenshot) as tmp_png:
                if not image.save(str(tmp_png), "PNG"):
                    raise OSError(f"could not write {screenshot}")
        except OSError as exc:
            print(f"colorstudio: {exc}", file=sys.stderr)
            status["code"] = 1
        finish()

    # Inside an application that already runs (tests, embedding) wait in a local loop and
    # leave the application itself alone.
    loop = None if owns_app else QEventLoop()

    def finish() -> None:
        win.editor.mark_saved()
        win.close()

    def closed() -> None:
        if loop is not None:
            loop.quit()
        else:
            app.quit()

    win.closed.connect(closed)
    QTimer.singleShot(0, win, start)
    code = app.exec() if loop is None else loop.exec()
    if loop is None:
        # The window stopped its own workers as it closed; anything else still running is told
        # to stop and waited for (bounded), so no thread outlives the application.
        from .workers import Worker
        Worker.shutdown_all(30000)
    win.deleteLater()
    from PySide6.QtCore import QCoreApplication, QEvent
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if tmp is not None:
        tmp.cleanup()
    return status["code"] or code
