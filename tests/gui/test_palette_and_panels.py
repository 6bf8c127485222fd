"""The palette (gamut picker, hex, dialog, recent, swatches) and the side panel's modes."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QColorDialog, QLineEdit, QMessageBox

from colorstudio.core.color import hex_to_ab, in_gamut
from colorstudio.gui.palette import AB_RANGE, GamutPicker, Palette, gamut_plane


def lightness_of_hex(color: str) -> float:
    from colorstudio.core.color import parse_color, rgb_to_lab
    rgb = np.array(parse_color(color), np.float32)[None, :] / 255.0
    return float(rgb_to_lab(rgb)[0, 0])
from colorstudio.gui.panels import ModePage, ModePanel, register_mode_page, MODE_PAGES

from .fakes import edge_photo
from .test_canvas_editing import at


def test_gamut_plane_marks_impossible_colours():
    rgb, ok = gamut_plane(50.0, 64)
    assert rgb.shape == (64, 64, 3) and ok.shape == (64, 64)
    assert ok[32, 32], "neutral grey exists at every lightness"
    assert not ok.all() and ok.any()
    # Near white almost nothing is possible.
    assert gamut_plane(98.0, 64)[1].mean() < ok.mean()
    # Out-of-gamut cells are drawn as neutral grey hatching.
    bad = rgb[~ok].astype(int)
    assert np.all(np.abs(bad[:, 0] - bad[:, 2]) == 0)


def _possible_and_impossible(picker: GamutPicker):
    size = picker.width()
    possible = impossible = None
    for y in range(4, size - 4, 6):
        for x in range(4, size - 4, 6):
            a, b = picker.ab_at(QPoint(x, y).toPointF())
            ok = picker.possible(a, b)
            if ok and possible is None and abs(a) > 15:
                possible = QPoint(x, y)
            if not ok and impossible is None:
                impossible = QPoint(x, y)
    return possible, impossible


def test_the_gamut_picker_picks_possible_colours_at_the_lightness_and_refuses_others(qtbot):
    picker = GamutPicker()
    qtbot.addWidget(picker)
    picker.show()
    picker.set_lightness(40.0)
    possible, impossible = _possible_and_impossible(picker)
    assert possible is not None and impossible is not None
    with qtbot.waitSignal(picker.color_picked) as got:
        qtbot.mouseClick(picker, Qt.MouseButton.LeftButton, pos=possible)
    color = got.args[0]
    assert abs(lightness_of_hex(color) - 40.0) < 1.0, "the colour is picked at the hint's lightness"
    a, b = picker.ab_at(possible.toPointF())
    assert np.allclose(hex_to_ab(color), (a, b), atol=2.0)
    with qtbot.assertNotEmitted(picker.color_picked):
        with qtbot.waitSignal(picker.impossible) as why:
            qtbot.mouseClick(picker, Qt.MouseButton.LeftButton, pos=impossible)
    assert "cannot exist" in why.args[0]
    assert picker.ab_at(picker.pos_of(20, -30)) == pytest.approx((20, -30))
    assert AB_RANGE > 100


def test_picking_recolours_the_selected_hint_and_updates_everywhere(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 170, 80))   # the light side, L* about 80
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 170, 80))   # and select it, to recolour it
    picker = win.palette_panel.picker
    L = win.editor.lightness_at(170, 80)
    assert picker.lightness == pytest.approx(L, abs=0.5), "the picker shows the hint pixel's lightness"
    possible, _ = _possible_and_impossible(picker)
    steps = win.editor.undo_stack.count()
    qtbot.mousePress(picker, Qt.MouseButton.LeftButton, pos=possible)
    qtbot.mouseMove(picker, possible + QPoint(3, 3))
    qtbot.mouseRelease(picker, Qt.MouseButton.LeftButton, pos=possible + QPoint(3, 3))
    color = win.editor.hints.points[0].color
    assert color == win.editor.color == win.palette_panel.hex_field.text()
    assert win.editor.undo_stack.count() <= steps + 1, "one pick, one undo step"
    assert win.palette_panel.recent_colors()[0] == color
    assert win.qsettings.value("palette/recent")[0] == color
    # Selecting another hint shows its colour everywhere.
    win.editor.select(None)
    win.palette_panel.choose("#2255aa")
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 40))
    win.editor.select(("point", 0))
    assert win.palette_panel.hex_field.text() == color
    assert win.palette_panel.picker.lightness == pytest.approx(L, abs=0.5)


def test_the_hex_field_sets_the_colour_and_rejects_nonsense(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=at(win.canvas, 40, 40))
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=at(win.canvas, 40, 40))  # select it
    field = win.findChild(QLineEdit, "hexField")
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, "#12ab34")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert win.editor.hints.points[0].color == "#12ab34"
    field.setText("12ab")
    field.editingFinished.emit()
    assert win.editor.hints.points[0].color == "#12ab34"
    assert field.text() == "#12ab34"


def test_the_colour_dialog_button_uses_the_standard_dialog(make_window, monkeypatch, qtbot):
    win = make_window()
    from PySide6.QtGui import QColor
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor("#abcdef")))
    win.palette_panel.dialog_button.click()
    assert win.editor.color == "#abcdef"


def test_swatches_are_shown_at_the_hints_lightness(qtbot):
    palette = Palette()
    qtbot.addWidget(palette)
    palette.set_lightness(30.0)
    dark = [b.color for b in palette._swatch_buttons]
    palette.set_lightness(80.0)
    light = [b.color for b in palette._swatch_buttons]
    assert len(dark) >= 30
    assert all(abs(lightness_of_hex(c) - 80.0) < 2.0 for c in light)
    assert all(abs(lightness_of_hex(c) - 30.0) < 2.0 for c in dark)
    chosen = []
    palette.color_chosen.connect(lambda c, token: chosen.append(c))
    palette._swatch_buttons[3].click()
    assert chosen == [light[3]]
    assert any(b.clipped for b in palette._swatch_buttons) or all(
        in_gamut(np.array([[80.0, *hex_to_ab(b.color)]], np.float32))[0] for b in palette._swatch_buttons)


def test_engine_suggestions_appear_only_when_there_are_some(qtbot):
    palette = Palette()
    qtbot.addWidget(palette)
    palette.show()
    assert not palette.suggest_label.isVisible()
    palette.set_suggestions([((200, 100, 50), 0.6), ((40, 80, 200), 0.3)])
    assert palette.suggest_label.isVisible()
    assert palette.suggest_row.count() == 3   # two swatches and a stretch
    palette.set_suggestions([])
    assert not palette.suggest_label.isVisible()


def test_a_mode_without_its_engine_says_so_and_offers_models(make_window, qtbot, monkeypatch):
    win = make_window()
    panel = win.findChild(ModePanel, "modePanel")
    assert win.editor.document.mode == "hints"
    notice = panel.page("auto").notice
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: None)
    panel.buttons["auto"].click()
    assert win.editor.document.mode == "auto"
    assert not notice.isHidden()
    assert "not" in notice.text.text().lower()
    requested = []
    win.models_requested.connect(requested.append)
    if not notice.button.isHidden():
        notice.button.click()
        assert requested == ["auto"]
    panel.buttons["hints"].click()
    assert win.editor.document.mode == "hints" and win.editor.document.engine == "propagation"
    win.editor.undo_stack.undo()
    assert win.editor.document.mode == "auto", "a mode switch is an undoable edit"


def test_modes_are_pages_so_adding_one_is_adding_a_widget(qtbot):
    class ExtraPage(ModePage):
        mode = "hints"
        title = "Hints"
        icon_name = "mdi6.brush"
        blurb = "a replacement page"

    original = list(MODE_PAGES)
    try:
        register_mode_page(ExtraPage)
        panel = ModePanel()
        qtbot.addWidget(panel)
        assert isinstance(panel.page("hints"), ExtraPage)
        assert len(set(panel.pages.values())) == len(original)
    finally:
        MODE_PAGES[:] = original


def test_devices_are_listed_lazily_and_remembered(make_window, qtbot):
    win = make_window()
    combo = win.mode_panel.device_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["auto", "cpu"]
    with qtbot.waitSignal(win.compute.devices_found, timeout=60000) as got:
        win.devices.ask()
    assert "cpu" in got.args[0]
    combo.setCurrentIndex(combo.findData("cpu"))
    assert win.workspace.device == "cpu"
    assert "CPU" in win.status_engine.text()
    from colorstudio.core.settings import load_settings
    assert load_settings()[0].device == "cpu"


def test_colour_strength_slider_is_one_undo_step_per_drag(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    s = win.strength
    steps = win.editor.undo_stack.count()
    s.slider.sliderPressed.emit()
    for v in (110, 120, 130, 150):
        s.slider.setValue(v)
    s.slider.sliderReleased.emit()
    assert win.editor.document.saturation == pytest.approx(1.5)
    assert win.editor.undo_stack.count() == steps + 1
    assert s.value_label.text() == "150 %"


def test_every_action_has_an_icon_and_a_tooltip_with_its_shortcut(make_window):
    win = make_window()
    for name, a in win.actions_by_name.items():
        assert not a.icon().isNull(), name
        if a.shortcuts():
            assert "(" in a.toolTip() and ")" in a.toolTip(), (name, a.toolTip())


def test_the_shortcuts_sheet_lists_the_actions(make_window, qtbot, monkeypatch):
    from colorstudio.gui.dialogs import ShortcutsDialog
    win = make_window()
    sheets = []
    monkeypatch.setattr(ShortcutsDialog, "exec", lambda self: sheets.append(self) or 0)
    win.actions_by_name["shortcuts"].trigger()
    table = sheets[0].table
    rows = {table.item(i, 0).text(): table.item(i, 1).text() for i in range(table.rowCount())}
    assert rows["Undo"] == "Ctrl+Z"
    assert "Ctrl+E" in rows["Export colour photo"]
    assert any("wheel" in v.lower() for v in rows.values())


def test_the_welcome_page_offers_the_sample_photo(make_window, qtbot):
    win = make_window()
    assert win.views.currentWidget() is win.welcome
    if win.welcome.sample_btn.isHidden():
        pytest.skip("the sample photo is not in resources/")
    win.welcome.sample_btn.click()
    qtbot.waitUntil(lambda: not win.photo_loader.busy, timeout=10000)   # the sample opens in the background
    assert win.workspace.photo is not None
    assert win.views.currentWidget() is win.canvas
