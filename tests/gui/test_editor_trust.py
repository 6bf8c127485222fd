"""The restorer's editor, driven with real clicks and keys: a colour pick never changes a
hint by surprise, colour stays where it is put (protect brush, edge strength, reach), and
the layout never moves under the pointer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit

from colorstudio.core.color import rgb_to_lab
from colorstudio.core.document import Document

from .fakes import edge_photo

WAIT_MS = 20000
SKIN = "#d99a7c"


def at(canvas, x, y) -> QPoint:
    return canvas.photo_to_widget(x, y).toPoint()


def chroma(rgb) -> float:
    lab = rgb_to_lab(np.array(rgb, np.float32)[None, :] / 255.0)[0]
    return float(np.hypot(lab[1], lab[2]))


def settled(qtbot, win, action=None):
    with qtbot.waitSignal(win.workspace.preview_ready, timeout=WAIT_MS,
                          check_params_cb=lambda r: win.compute.preview_up_to_date and not win.editor.interacting):
        if action is not None:
            action()


def type_hex(qtbot, win, text: str) -> None:
    field = win.findChild(QLineEdit, "hexField")
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def open_edge(make_window, tmp_path):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    return win, win.canvas


def test_a_colour_pick_never_changes_a_hint_by_surprise(make_window, tmp_path, qtbot):
    win, c = open_edge(make_window, tmp_path)
    e = win.editor
    win.palette_panel.choose(SKIN)
    # Place a skin point, then type #808080: the point keeps its skin colour.
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 60))
    assert e.selection is None
    type_hex(qtbot, win, "#808080")
    assert e.hints.points[0].color == SKIN and e.color == "#808080"
    # The same with a swatch and with Recent.
    swatch = win.palette_panel._swatch_buttons[3]
    qtbot.mouseClick(swatch, Qt.MouseButton.LeftButton)
    assert e.hints.points[0].color == SKIN
    # Clicking the point selects it, visibly, and shows its colour.
    box = c.rect().intersected(c.rect().adjusted(0, 0, 0, 0))
    centre = at(c, 40, 60)
    around = box.__class__(centre.x() - 20, centre.y() - 20, 40, 40)
    unselected = c.grab(around).toImage()
    with qtbot.waitSignal(e.selection_changed):
        qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 60))
    assert e.selection == ("point", 0) and len(e.hints.points) == 1
    assert win.palette_panel.hex_field.text() == SKIN
    c.repaint()
    assert c.grab(around).toImage() != unselected, "the selected point is marked on the canvas"
    # Now a pick recolours it, as one undo step.
    steps = e.undo_stack.count()
    type_hex(qtbot, win, "#3060c0")
    assert e.hints.points[0].color == "#3060c0"
    assert e.undo_stack.count() == steps + 1
    recent = win.palette_panel.recent_row.itemAt(1).widget()   # SKIN, chosen earlier
    qtbot.mouseClick(recent, Qt.MouseButton.LeftButton)
    assert e.hints.points[0].color == recent.color
    assert e.undo_stack.count() == steps + 2
    e.undo_stack.undo()
    assert e.hints.points[0].color == "#3060c0"
    # Escape deselects; a pick then changes only the current colour.
    qtbot.keyClick(c, Qt.Key.Key_Escape)
    assert e.selection is None
    type_hex(qtbot, win, "#20a040")
    assert e.hints.points[0].color == "#3060c0"
    # Select again, then a click on empty canvas places a new point and deselects.
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 60))
    assert e.selection == ("point", 0)
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 200, 120))
    assert e.selection is None and len(e.hints.points) == 2
    assert e.hints.points[1].color == "#3060c0", "the current colour became the selected point's"
    # The eyedropper is a pick too: on a selected point it recolours, otherwise not.
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 200, 120))
    assert e.selection == ("point", 1)
    qtbot.keyClick(c, Qt.Key.Key_Escape)
    qtbot.keyClick(c, Qt.Key.Key_I)
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 100, 20))
    assert [p.color for p in e.hints.points] == ["#3060c0", "#3060c0"]
    assert e.color != "#3060c0" and c.tool.name == "point"


def test_a_click_drag_that_creates_a_point_is_one_undo_step(make_window, tmp_path, qtbot):
    win, c = open_edge(make_window, tmp_path)
    e = win.editor
    steps = e.undo_stack.count()
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 30))
    for i in range(1, 6):
        qtbot.mouseMove(c, at(c, 30 + 4 * i, 30 + 3 * i))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 50, 45))
    assert e.undo_stack.count() == steps + 1
    assert abs(e.hints.points[0].x - 50) < 1.5 and e.selection is None
    qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert e.hints.is_empty


def test_the_eyedropper_returns_to_the_previous_tool_and_alt_holds_one(make_window, tmp_path, qtbot):
    win, c = open_edge(make_window, tmp_path)
    qtbot.keyClick(c, Qt.Key.Key_B)
    qtbot.keyClick(c, Qt.Key.Key_I)
    assert c.tool.name == "eyedropper"
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 200, 60))
    assert c.tool.name == "brush" and win.actions_by_name["tool_brush"].isChecked()
    assert win.editor.hints.is_empty
    # Hold Alt: an eyedropper for as long as it is held, even across picks.
    qtbot.keyPress(c, Qt.Key.Key_Alt)
    assert c.tool.name == "eyedropper"
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, at(c, 30, 60))
    assert c.tool.name == "eyedropper"
    qtbot.keyRelease(c, Qt.Key.Key_Alt)
    assert c.tool.name == "brush"


def test_the_protect_brush_keeps_colour_out_and_is_undoable(make_window, tmp_path, qtbot):
    # A flat photo: without a protect stroke, one point colours all of it.
    from PIL import Image
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((160, 240), 120, np.uint8), "L").save(path)
    win = make_window()
    assert win.open_photo(path)
    c, e = win.canvas, win.editor
    win.palette_panel.choose("#c03020")
    settled(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 80)))
    assert chroma(c.displayed_color(210, 80)) > 15
    qtbot.keyClick(c, Qt.Key.Key_N)
    assert c.tool.name == "protect"
    steps = e.undo_stack.count()

    def paint():
        qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 120, 1))
        for y in range(10, 160, 10):
            qtbot.mouseMove(c, at(c, 120, y))
        qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 120, 159))
    settled(qtbot, win, paint)
    assert e.undo_stack.count() == steps + 1
    stroke = e.hints.strokes[0]
    assert stroke.protect and e.selection is None
    assert chroma(c.displayed_color(210, 80)) < 3, "colour does not cross the protect stroke"
    assert chroma(c.displayed_color(120, 80)) < 3, "under the stroke it stays neutral"
    assert chroma(c.displayed_color(40, 80)) > 15, "the point's own side keeps its colour"
    # Saved with the document, and undone like any stroke.
    assert Document.from_dict(e.document.to_dict()).hints.strokes[0].protect
    settled(qtbot, win, lambda: qtbot.keyClick(c, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier))
    assert not e.hints.strokes and chroma(c.displayed_color(210, 80)) > 15


def test_the_edge_strength_slider_is_a_saved_undoable_setting(make_window, tmp_path, qtbot):
    win, c = open_edge(make_window, tmp_path)
    e = win.editor
    page = win.mode_panel.pages["hints"]
    slider = page.edge_slider
    assert slider.isEnabled() and slider.value() == 50
    steps = e.undo_stack.count()
    slider.setFocus()
    settled(qtbot, win, lambda: qtbot.keyClick(slider, Qt.Key.Key_PageUp))
    value = dict(e.document.options)["edge_strength"]
    assert value == slider.value() / 100 > 0.5
    assert e.undo_stack.count() == steps + 1
    assert dict(Document.from_dict(e.document.to_dict()).options)["edge_strength"] == value
    e.undo_stack.undo()
    assert "edge_strength" not in dict(e.document.options) and slider.value() == 50


def test_the_reach_overlay_shows_how_far_the_selected_hint_reaches(make_window, tmp_path, qtbot):
    win, c = open_edge(make_window, tmp_path)
    e = win.editor
    settled(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80))
    assert e.selection == ("point", 0)
    with qtbot.waitSignal(win.compute.reach_ready, timeout=WAIT_MS):
        qtbot.keyClick(c, Qt.Key.Key_R)
    reach = c.overlay_array
    assert reach is not None
    h, w = reach.shape
    assert reach[h // 2, w // 6] > 0.8, "its own side is its colour"
    assert reach[h // 2, w - w // 6] < 0.2, "the strong edge stops it"
    before = c.grab().toImage().pixelColor(at(c, 200, 80))
    qtbot.keyClick(c, Qt.Key.Key_R)
    assert c.overlay_array is None
    assert c.grab().toImage().pixelColor(at(c, 200, 80)) != before, "the overlay was on the screen"


def test_the_side_panel_does_not_move_under_the_pointer(make_window, tmp_path, qtbot):
    win, c = open_edge(make_window, tmp_path)
    pal = win.palette_panel
    swatch = pal._swatch_buttons[5]
    before = swatch.mapTo(win, QPoint(0, 0))
    label_h = pal.lightness_label.height()
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 60))
    qtbot.mouseClick(swatch, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(pal._swatch_buttons[6], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pal.recent_row.count() >= 3)
    assert pal.lightness_label.height() == label_h
    assert swatch.mapTo(win, QPoint(0, 0)) == before
    # Recent swatches stay where they are when one of them is clicked.
    order = list(pal.recent_colors())
    last = pal.recent_row.itemAt(len(order) - 1).widget()
    qtbot.mouseClick(last, Qt.MouseButton.LeftButton)
    assert pal.recent_colors() == order and win.editor.color == last.color


def test_the_shortcuts_sheet_keeps_the_ampersand(make_window, qtbot):
    from colorstudio.gui.dialogs import ShortcutsDialog
    win = make_window()
    sheet = ShortcutsDialog(win.actions_by_name.values(), win)
    texts = [sheet.table.item(i, 0).text() for i in range(sheet.table.rowCount())]
    assert "Reference & style" in texts
    assert win.menuBar().actions()  # the menu itself still has its mnemonic
    assert win.actions_by_name["mode_reference"].text() == "&Reference && style"


def test_a_photo_reopened_from_its_hints_file_stays_linked_after_a_restart(make_window, tmp_path, qtbot):
    photo = edge_photo(tmp_path / "edge.png")
    win = make_window()
    assert win.open_photo(photo)
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=at(win.canvas, 30, 40))
    doc_path = tmp_path / "edge.hints.json"
    assert win.save_document(doc_path)
    win.close()
    win2 = make_window()
    assert win2.open_document(doc_path)
    qtbot.mouseClick(win2.canvas, Qt.MouseButton.LeftButton, pos=at(win2.canvas, 200, 100))
    win2.workspace.flush_autosave()
    win2.close()
    # A restart: the photo itself is opened (from Recent), its autosave comes back, linked.
    win3 = make_window()
    assert win3.open_photo(photo)
    assert len(win3.editor.hints.points) == 2
    assert win3.workspace.document_path == doc_path.resolve()
    assert "edge.hints.json" in win3.windowTitle()
    qtbot.keyClick(win3.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)   # no dialog: saves there
    assert len(json.loads(doc_path.read_text())["points"]) == 2


def test_export_and_save_do_not_propose_the_applications_own_folder(make_window, tmp_path, qtbot, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    from colorstudio.gui import dialogs
    from colorstudio.gui.resources import is_app_folder, sample_photo
    if sample_photo() is None:
        import pytest
        pytest.skip("no sample photo in this installation")
    proposed = []
    monkeypatch.setattr(dialogs.ExportDialog, "exec", lambda self: proposed.append(self.path) or 0)
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, title, start, *a: proposed.append(Path(start)) or ("", "")))
    win = make_window()
    with qtbot.waitSignal(win.photo_open_finished, timeout=WAIT_MS):
        win.actions_by_name["openSample"].trigger()
    qtbot.keyClick(win.canvas, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(win.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert len(proposed) == 2
    for p in proposed:
        assert not is_app_folder(p.parent), p
        assert p.parent.is_dir()
    # The last folder used is proposed next time.
    out = tmp_path / "exports"
    out.mkdir()
    win.qsettings.setValue("paths/export", str(out))
    qtbot.keyClick(win.canvas, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert proposed[-1].parent == out and proposed[-1].name.startswith("sample_portrait")


def test_automatic_mode_without_a_model_says_the_grey_photo_is_shown(make_window, tmp_path, qtbot):
    win, c = open_edge(make_window, tmp_path)
    qtbot.keyClick(win, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    assert win.editor.document.mode == "auto"
    text = win.status_engine.text()
    assert text.startswith("Showing the grey photo") and "not installed" in text
