"""Screenshots of the editor with the protect brush and the reach overlay in use (offscreen).

Old Tom Morris (shared/data/photos): a sky point and a face point; without protection the face
colour reaches into the white beard and the sky colour into the cap. A protect stroke over the
beard keeps it white; the face point is selected and its reach shown.

    python bench/editor_screenshot.py [OUT_FOLDER]   (default bench/results)

Writes editor_protect_reach.png (the window) and editor_protect_before_after.png (result
without, then with the protect stroke).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

PHOTO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "photos" / "old_tom_morris_bw.png"


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from colorstudio.core.document import AutosaveStore
    from colorstudio.core.hints import PointHint, Stroke
    from colorstudio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = tempfile.TemporaryDirectory(prefix="colorstudio-shot-")
    win = MainWindow(qsettings=QSettings(str(Path(tmp.name) / "shot.ini"), QSettings.Format.IniFormat),
                     autosave=AutosaveStore(Path(tmp.name) / "autosave"))
    win.resize(1280, 820)
    win.show()

    def wait(signal, ok=lambda *a: True, ms=60000):
        loop = QEventLoop()
        got = []
        def seen(*args):
            if ok(*args):
                got.append(args)
                loop.quit()
        signal.connect(seen)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()
        signal.disconnect(seen)
        return got[0] if got else None

    def settled(*_):
        return win.compute.preview_up_to_date and not win.editor.interacting

    if not win.open_photo(PHOTO):
        print("could not open", PHOTO, file=sys.stderr)
        return 1
    e = win.editor
    hints = e.hints
    for x, y, c in ((30, 40, "#7f9fc8"), (102, 33, "#e0a88a"), (100, 170, "#5a5046"), (40, 200, "#8a8f7a")):
        hints = hints.with_point(PointHint(x, y, c, 3))
    e.replace_document(e.document.with_hints(hints), "Hints")
    wait(win.workspace.preview_ready, settled)
    before = win.canvas.result_array.copy()
    beard = Stroke(((96.0, 44.0), (98.0, 52.0), (99.0, 60.0)), 12.0, "#808080", protect=True)
    cap = Stroke(((88.0, 12.0), (100.0, 10.0), (112.0, 12.0)), 8.0, "#808080", protect=True)
    e.replace_document(e.document.with_hints(e.hints.with_stroke(beard).with_stroke(cap)), "Protect")
    wait(win.workspace.preview_ready, settled)
    after = win.canvas.result_array.copy()
    win.canvas.set_tool("protect")
    e.select(("point", 1))
    win.actions_by_name["showReach"].trigger()
    wait(win.compute.reach_ready)
    app.processEvents()
    win.grab().save(str(out / "editor_protect_reach.png"), "PNG")
    pair = np.concatenate([before, np.full((before.shape[0], 8, 3), 255, np.uint8), after], axis=1)
    Image.fromarray(pair).resize((pair.shape[1] * 2, pair.shape[0] * 2), Image.NEAREST).save(
        out / "editor_protect_before_after.png")
    e.mark_saved()   # nothing to ask about on close
    win.close()
    app.processEvents()
    print(f"wrote {out / 'editor_protect_reach.png'} and {out / 'editor_protect_before_after.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
