"""What you see is what you export: the settled preview, and at 100 % the canvas's pixels."""
from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from .test_canvas_editing import at, wait_full_preview

WAIT_MS = 60000


def _photo(path, w, h):
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:h, 0:w]
    g = 70 + 110 * (xx > w // 2) + 25 * np.sin(yy / 9.0) + rng.normal(0, 3, (h, w))
    Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).save(path)
    return path


def _export(win, qtbot, path):
    with qtbot.waitSignal(win.compute.export_finished, timeout=WAIT_MS):
        win.export(path)
    return np.asarray(Image.open(path).convert("RGB"))


def test_a_small_photo_settled_preview_is_the_export(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(_photo(tmp_path / "small.png", 400, 300))
    c = win.canvas
    win.palette_panel.choose("#c04020")
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 80, 150))
    win.palette_panel.choose("#2050c0")
    result = wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 320, 150)))
    exported = _export(win, qtbot, tmp_path / "out.png")
    assert result.rgb.shape == exported.shape
    assert np.abs(result.rgb.astype(int) - exported.astype(int)).max() <= 1


def test_zoomed_to_100_percent_the_canvas_shows_the_exports_pixels(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(_photo(tmp_path / "big.png", 1800, 1200))   # larger than the 1024-px preview
    c = win.canvas
    win.palette_panel.choose("#c04020")
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 300, 600)))
    with qtbot.waitSignal(win.compute.detail_ready, timeout=WAIT_MS):
        win.actions_by_name["actualSize"].trigger()      # View > 100 % (Ctrl+1)
    qtbot.waitUntil(lambda: c.detail_rect is not None, timeout=WAIT_MS)
    x0, y0, x1, y1 = c.detail_rect
    assert c.view.scale >= 1.0
    assert (x1 - x0) <= c.width() + 1 and (y1 - y0) <= c.height() + 1, "only the part in view was composed"
    shown = c._detail[1].toImage().convertToFormat(c._detail[1].toImage().Format.Format_RGB888)
    ptr = shown.constBits()
    shown_rgb = np.frombuffer(ptr, np.uint8, shown.sizeInBytes()).reshape(shown.height(), shown.bytesPerLine())
    shown_rgb = shown_rgb[:, : shown.width() * 3].reshape(shown.height(), shown.width(), 3)
    exported = _export(win, qtbot, tmp_path / "big-out.png")
    assert np.abs(shown_rgb.astype(int) - exported[y0:y1, x0:x1].astype(int)).max() <= 1
    # An edit clears the full-resolution pixels until the next settled preview brings new ones.
    with qtbot.waitSignal(win.compute.detail_ready, timeout=WAIT_MS):
        win.palette_panel.choose("#20a040")
        qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=c.rect().center())
        assert c.detail_rect is None
    qtbot.waitUntil(lambda: c.detail_rect is not None, timeout=WAIT_MS)
