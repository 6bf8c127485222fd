"""Real clicks on the real canvas: colour points, drags, brush, eraser, undo and redo."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent

from colorstudio.core.color import hex_to_ab, rgb_to_lab

from .fakes import edge_photo

WAIT_MS = 20000


def at(canvas, x, y) -> QPoint:
    """The widget position of photo point (x, y)."""
    return canvas.photo_to_widget(x, y).toPoint()


def wait_full_preview(qtbot, win, action=None, timeout=WAIT_MS):
    """Run ``action`` and wait for the full-quality preview that follows it."""
    with qtbot.waitSignal(win.workspace.preview_ready, timeout=timeout,
                          check_params_cb=lambda r: win.compute.preview_up_to_date and not win.editor.interacting
                          ) as blocker:
        if action is not None:
            action()
    return blocker.args[0]


def chroma(rgb) -> float:
    lab = rgb_to_lab(np.array(rgb, np.float32)[None, :] / 255.0)[0]
    return float(np.hypot(lab[1], lab[2]))


def ab(rgb) -> np.ndarray:
    return rgb_to_lab(np.array(rgb, np.float32)[None, :] / 255.0)[0, 1:]


def test_a_real_photo_opens_in_hints_mode_with_the_point_tool(make_window, photos_dir, qtbot):
    win = make_window()
    for name in ("canvas", "modePanel", "palette", "gamutPicker", "hexField", "statusEngine"):
        assert win.findChild(object, name) is not None, name
    assert win.open_photo(photos_dir / "david_hilbert_bw.png")
    assert win.editor.document.mode == "hints"
    assert win.canvas.tool.name == "point"
    assert win.views.currentWidget() is win.canvas
    w, h = win.canvas.photo_size
    assert (w, h) == (win.workspace.photo.width, win.workspace.photo.height)


def test_a_click_colours_its_side_of_a_strong_edge_and_not_the_other(make_window, tmp_path, qtbot):
    photo = edge_photo(tmp_path / "edge.png")
    win = make_window()
    assert win.open_photo(photo)
    c = win.canvas
    win.palette_panel.choose("#2a6fdb")
    far = (200, 80)   # right of the edge at x = 120
    near = (45, 80)
    before_far = c.displayed_color(*far)
    result = wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    assert result.rgb is not None
    assert len(win.editor.hints.points) == 1
    p = win.editor.hints.points[0]
    assert abs(p.x - 40) < 1 and abs(p.y - 80) < 1, "the hint lands on the pixel that was clicked"
    near_rgb = c.displayed_color(*near)
    target = np.array(hex_to_ab("#2a6fdb"))
    assert chroma(near_rgb) > 10, "the pixels near the click took on colour"
    assert np.dot(ab(near_rgb), target) > 0.5 * np.dot(target, target) * 0.3, "towards the hint colour"
    assert chroma(c.displayed_color(*far)) < 4, "across the strong edge the photo stays grey"
    assert chroma(before_far) < 1


def test_a_click_on_a_real_photo_moves_nearby_pixels_towards_the_hint(make_window, photos_dir, qtbot):
    win = make_window()
    assert win.open_photo(photos_dir / "old_tom_morris_bw.png")
    c = win.canvas
    w, h = c.photo_size
    x, y = w * 0.5, h * 0.15
    win.palette_panel.choose("#c0392b")
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, x, y)))
    got = ab(c.displayed_color(x + 2, y + 2))
    target = np.array(hex_to_ab("#c0392b"))
    assert np.dot(got, target) / np.linalg.norm(target) > 5, f"expected a red tint near the click, got ab {got}"


def test_dragging_a_point_moves_it_in_one_undo_step(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 40)))
    steps = win.editor.undo_stack.count()

    def drag():
        qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 40))
        for i in range(1, 11):
            qtbot.mouseMove(c, at(c, 30 + 3 * i, 40 + 2 * i))
        qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 60, 60))
    wait_full_preview(qtbot, win, drag)
    p = win.editor.hints.points
    assert len(p) == 1, "pressing on a point grabs it instead of adding another"
    assert abs(p[0].x - 60) < 1 and abs(p[0].y - 60) < 1
    assert win.editor.undo_stack.count() == steps + 1, "a drag is one undo step"
    assert not win.editor.interacting

    wait_full_preview(qtbot, win, win.editor.undo_stack.undo)
    assert abs(win.editor.hints.points[0].x - 30) < 1
    wait_full_preview(qtbot, win, win.editor.undo_stack.undo)
    assert win.editor.hints.is_empty
    wait_full_preview(qtbot, win, win.editor.undo_stack.redo)
    wait_full_preview(qtbot, win, win.editor.undo_stack.redo)
    assert abs(win.editor.hints.points[0].x - 60) < 1


def test_undo_asks_for_a_new_preview(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    win.palette_panel.choose("#d04010")
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 30)))
    assert chroma(c.displayed_color(30, 30)) > 10
    result = wait_full_preview(qtbot, win, lambda: qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier))
    assert win.editor.hints.is_empty
    assert result.rgb is None and chroma(c.displayed_color(30, 30)) < 1, "the colour goes with the hint"
    wait_full_preview(qtbot, win, lambda: qtbot.keyClick(
        c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
    assert len(win.editor.hints.points) == 1
    assert chroma(c.displayed_color(30, 30)) > 10


def test_right_click_and_delete_remove_points_and_brackets_resize(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 30))
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 90, 100))
    assert len(win.editor.hints.points) == 2
    assert win.editor.selection is None, "placing a point does not select it"
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 90, 100))
    assert win.editor.selection == ("point", 1) and len(win.editor.hints.points) == 2
    r0 = win.editor.hints.points[1].radius
    qtbot.keyClick(c, Qt.Key.Key_BracketRight)
    assert win.editor.hints.points[1].radius > r0
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(c, Qt.Key.Key_BracketLeft)
    assert win.editor.hints.points[1].radius < r0
    qtbot.mouseClick(c, Qt.MouseButton.RightButton, pos=at(c, 30, 30))
    assert len(win.editor.hints.points) == 1
    assert win.editor.hints.points[0].x == pytest.approx(90, abs=1)
    win.editor.select(("point", 0))
    qtbot.keyClick(c, Qt.Key.Key_Delete)
    assert win.editor.hints.is_empty
    # Clicking outside the photo adds nothing.
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, -20, -20))
    assert win.editor.hints.is_empty


def test_brush_paints_one_stroke_per_drag_and_the_eraser_removes_it(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    qtbot.keyClick(c, Qt.Key.Key_B)
    assert c.tool.name == "brush"
    steps = win.editor.undo_stack.count()
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 20, 20))
    for i in range(1, 16):
        qtbot.mouseMove(c, at(c, 20 + 5 * i, 20 + 2 * i))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 95, 50))
    strokes = win.editor.hints.strokes
    assert len(strokes) == 1 and len(strokes[0].points) > 3
    assert strokes[0].color == win.editor.color
    assert win.editor.undo_stack.count() == steps + 1
    qtbot.keyClick(c, Qt.Key.Key_E)
    assert c.tool.name == "eraser"
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 60, 140))
    qtbot.mouseMove(c, at(c, 60, 5))  # one fast sweep across the stroke erases it
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 60, 5))
    assert win.editor.hints.is_empty
    win.editor.undo_stack.undo()
    assert len(win.editor.hints.strokes) == 1


def test_the_eyedropper_takes_the_colour_under_the_pointer(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    win.palette_panel.choose("#1f9d55")
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 30)))
    win.editor.select(None)
    win.palette_panel.choose("#888888")
    qtbot.keyClick(c, Qt.Key.Key_I)
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 50, 60))
    taken = win.editor.color
    assert taken != "#888888"
    assert np.dot(ab(tuple(int(taken[i:i + 2], 16) for i in (1, 3, 5))), hex_to_ab("#1f9d55")) > 0
    assert win.palette_panel.hex_field.text() == taken


def test_zoom_pan_fit_and_hints_stay_on_their_pixels(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 50, 50))
    cursor = QPointF(at(c, 100, 60))
    before = c.widget_to_photo(cursor)
    ev = QWheelEvent(cursor, c.mapToGlobal(cursor), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    scale = c.view.scale
    qtbot.wait(1)
    c.wheelEvent(ev)
    assert c.view.scale > scale * 1.3
    assert c.widget_to_photo(cursor) == pytest.approx(before, abs=1e-6), "zoom keeps the point under the cursor"
    # The hint is still drawn at its pixel: clicking there grabs it rather than adding one.
    qtbot.mouseClick(c, Qt.MouseButton.RightButton, pos=at(c, 50, 50))
    assert win.editor.hints.is_empty
    # Middle-button pan moves the view, not the hints.
    view = c.view
    qtbot.mousePress(c, Qt.MouseButton.MiddleButton, pos=QPoint(300, 300))
    qtbot.mouseMove(c, QPoint(340, 320))
    qtbot.mouseRelease(c, Qt.MouseButton.MiddleButton, pos=QPoint(340, 320))
    assert c.view.ox == pytest.approx(view.ox + 40) and c.view.oy == pytest.approx(view.oy + 20)
    win.actions_by_name["actualSize"].trigger()
    assert c.view.scale == 1.0
    win.actions_by_name["fit"].trigger()
    assert c.view.to_widget(0, 0)[0] >= 0 and c.view.to_widget(240, 160)[0] <= c.width()


def test_split_view_divider_drags_and_views_switch(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    qtbot.keyClick(c, Qt.Key.Key_3)
    assert c.view_mode == "split"
    x = c.divider_x()
    y = c.height() // 2
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPoint(round(x), y))
    qtbot.mouseMove(c, QPoint(round(x) + 50, y))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=QPoint(round(x) + 50, y))
    assert c.split > 0.5
    assert win.editor.hints.is_empty, "dragging the divider is not a click on the photo"
    qtbot.keyClick(c, Qt.Key.Key_2)
    assert c.view_mode == "original" and win.actions_by_name["viewOriginal"].isChecked()
    qtbot.keyClick(c, Qt.Key.Key_H)
    assert not c.show_hints
    qtbot.keyClick(c, Qt.Key.Key_1)
    assert c.view_mode == "result"
