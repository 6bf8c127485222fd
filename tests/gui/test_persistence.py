"""Nothing a user did is lost: save and reopen, autosave, export, the unsaved-work question."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from colorstudio.gui.controllers import setting_list
from colorstudio.core.color import rgb_to_lab
from colorstudio.core.hints import Hints
from colorstudio.gui import dialogs

from .fakes import edge_photo
from .test_canvas_editing import at

WAIT_MS = 30000


def add_points(qtbot, win, *xy):
    c = win.canvas
    for x, y in xy:
        qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, x, y))


def test_save_then_reopen_restores_hints_and_settings(make_window, tmp_path, qtbot):
    photo = edge_photo(tmp_path / "edge.png")
    win = make_window()
    assert win.open_photo(photo)
    win.palette_panel.choose("#3355aa")
    add_points(qtbot, win, (30, 40), (200, 100))
    win.editor.set_saturation(1.4)
    assert win.isWindowModified()
    doc_path = tmp_path / "edge.hints.json"
    assert win.save_document(doc_path)
    assert not win.editor.dirty and not win.isWindowModified()
    saved = json.loads(doc_path.read_text())
    assert saved["format"] == "colorstudio.hints" and len(saved["points"]) == 2
    assert Hints.load(doc_path).points[0].color == "#3355aa", "the CLI can read it as --hints"
    win.close()

    win2 = make_window()
    assert win2.open_document(doc_path), win2.message_bar.message
    assert win2.workspace.photo is not None, "the document brings its photo along"
    assert win2.editor.hints.points == win.editor.hints.points
    assert win2.editor.document.saturation == pytest.approx(1.4)
    assert win2.strength.slider.value() == 140
    assert not win2.editor.dirty


def test_a_hints_file_applies_to_the_open_photo_as_one_undoable_step(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    hints_path = tmp_path / "plain.json"
    Hints.of(points=[(10, 10, "#ff0000"), (20, 20, "#00ff00")]).save(hints_path)
    assert win.open_document(hints_path)
    assert len(win.editor.hints.points) == 2
    win.editor.undo_stack.undo()
    assert win.editor.hints.is_empty


def test_a_broken_document_gets_a_sentence_not_a_traceback(make_window, tmp_path):
    win = make_window()
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    assert not win.open_document(bad)
    assert "not valid JSON" in win.message_bar.message
    assert not win.open_document(tmp_path / "missing.json")
    assert "does not exist" in win.message_bar.message
    assert not win.open_photo(bad)
    assert win.message_bar.message


def test_autosave_brings_hints_back_after_the_window_is_gone(make_window, tmp_path, qtbot):
    from colorstudio.gui.main_window import MainWindow
    photo = edge_photo(tmp_path / "edge.png")
    win = MainWindow()
    win.show()
    qtbot.waitExposed(win)
    assert win.open_photo(photo)
    add_points(qtbot, win, (30, 40), (60, 20))
    hints = win.editor.hints
    assert win.editor.dirty
    win.close()  # answered "close without saving" by the test fixture
    win.deleteLater()
    qtbot.waitUntil(lambda: not _alive(win), timeout=5000)

    # The same photo from another folder: autosave is keyed by content, not by path.
    elsewhere = tmp_path / "copy" / "renamed.png"
    elsewhere.parent.mkdir()
    shutil.copy(photo, elsewhere)
    win2 = make_window()
    assert win2.open_photo(elsewhere)
    assert win2.editor.hints.points == hints.points
    assert "restored 2 hints" in win2.statusBar().currentMessage()


def _alive(obj) -> bool:
    import shiboken6
    return shiboken6.isValid(obj)


def test_autosave_is_written_as_edits_happen(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    store = win.workspace.autosave
    key = win.workspace.photo.content_hash
    assert store.load(key) is None, "merely opening a photo writes nothing"
    add_points(qtbot, win, (30, 40))
    qtbot.waitUntil(lambda: store.load(key) is not None, timeout=5000)
    assert len(store.load(key).hints.points) == 1
    win.editor.set_saturation(0.5)   # a slider step: autosaved after a short delay
    qtbot.waitUntil(lambda: store.load(key).saturation == 0.5, timeout=5000)
    assert not list(store.folder.glob("*.part"))


def test_closing_with_unsaved_work_asks_and_cancel_keeps_the_window(make_window, tmp_path, qtbot, monkeypatch):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    add_points(qtbot, win, (30, 40))
    asked = []
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: asked.append(name) or "cancel")
    win.close()
    assert asked == ["edge.png"]
    assert win.isVisible() and win.compute.is_running()
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
    win.close()
    assert not win.isVisible() and not win.compute.is_running()


def test_closing_a_saved_document_does_not_ask(make_window, tmp_path, qtbot, monkeypatch):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    add_points(qtbot, win, (30, 40))
    assert win.save_document(tmp_path / "e.json")
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda *a: pytest.fail("asked although saved"))
    win.close()
    assert not win.isVisible()


def _lightness(path) -> np.ndarray:
    im = Image.open(path)
    a = np.asarray(im.convert("RGB") if im.mode not in ("RGB", "I;16", "RGB;16") else im)
    top = 65535.0 if a.dtype == np.uint16 else 255.0
    return rgb_to_lab(a.astype(np.float32) / top)[..., 0]


def test_export_writes_a_full_resolution_file_with_the_sources_lightness(make_window, tmp_path, qtbot):
    photo = edge_photo(tmp_path / "edge.png", 300, 200)
    win = make_window()
    assert win.open_photo(photo)
    win.palette_panel.choose("#b03a2e")
    add_points(qtbot, win, (40, 100), (250, 50))
    out = tmp_path / "out" / "edge-colour.png"
    out.parent.mkdir()
    with qtbot.waitSignal(win.compute.export_finished, timeout=WAIT_MS) as blocker:
        assert win.export(out, "png") is not None
        assert win.export_progress.isVisible()
    assert blocker.args[0].width == 300 and blocker.args[0].height == 200
    assert not win.export_progress.isVisible()
    assert Image.open(out).size == (300, 200)
    src_L = win.workspace.photo.lightness
    got_L = _lightness(out)
    assert np.abs(got_L - src_L).max() < 1.0, "the export keeps the photo's own tones"
    lab = rgb_to_lab(np.asarray(Image.open(out).convert("RGB"), np.float32) / 255.0)
    assert np.hypot(lab[100, 40, 1], lab[100, 40, 2]) > 10, "and it is in colour"


def test_export_as_16_bit_tiff(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png", 120, 80))
    add_points(qtbot, win, (30, 40))
    out = tmp_path / "edge.tif"
    with qtbot.waitSignal(win.compute.export_finished, timeout=WAIT_MS):
        win.export(out, "tiff")
    import tifffile
    arr = tifffile.imread(out)
    assert arr.dtype == np.uint16 and arr.shape[:2] == (80, 120)
    L = rgb_to_lab(arr[..., :3].astype(np.float32) / 65535.0)[..., 0]
    assert np.abs(L - win.workspace.photo.lightness).max() < 1.0


def test_export_never_writes_over_the_source(make_window, tmp_path, qtbot):
    photo = edge_photo(tmp_path / "edge.png")
    before = photo.read_bytes()
    win = make_window()
    assert win.open_photo(photo)
    add_points(qtbot, win, (30, 40))
    assert win.export(photo, "png") is None
    assert "source photo" in win.message_bar.message
    assert photo.read_bytes() == before
    assert win.export(tmp_path / "missing-folder" / "x.png") is None
    assert "does not exist" in win.message_bar.message


def test_export_dialog_offers_formats_and_refuses_the_source(qtbot, tmp_path):
    photo = edge_photo(tmp_path / "edge.png")
    dlg = dialogs.ExportDialog(photo, (240, 160))
    qtbot.addWidget(dlg)
    assert dlg.path == tmp_path / "edge-colour.png"
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("jpeg"))
    assert dlg.path.suffix == ".jpg" and dlg.quality.isEnabled()
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("tiff"))
    assert dlg.path.suffix == ".tif" and not dlg.quality.isEnabled()
    dlg.path_field.setText(str(photo))
    dlg._accept()
    assert not dlg.error.isHidden() and "source photo" in dlg.error.text()
    assert dlg.result() == 0


def test_dropping_a_photo_opens_it(make_window, tmp_path, qtbot):
    photo = edge_photo(tmp_path / "dropped.png")
    win = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.NoModifier)
    win.dropEvent(ev)
    qtbot.waitUntil(lambda: win.workspace.photo is not None, timeout=5000)
    assert win.workspace.photo_ref.path.endswith("dropped.png")
    assert str(photo.resolve()) in setting_list(win.qsettings, "recent/photos")


def test_recent_files_and_geometry_are_remembered(make_window, tmp_path, qtbot):
    photo = edge_photo(tmp_path / "edge.png")
    win = make_window()
    assert win.open_photo(photo)
    win.resize(900, 640)
    win.close()
    win2 = make_window()
    assert win2.recent_menu.actions() and win2.recent_menu.actions()[0].toolTip() == str(photo.resolve())
    assert win2.welcome.recent.count() == 1
    opened = []
    win2.workspace.photo_opened.connect(opened.append)
    item = win2.welcome.recent.item(0)
    rect = win2.welcome.recent.visualItemRect(item)
    qtbot.mouseClick(win2.welcome.recent.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: bool(opened), timeout=5000)   # recent photos open in the background
    assert len(opened) == 1 and win2.views.currentWidget() is win2.canvas


def test_closing_during_an_export_asks_and_leaves_no_half_file(make_window, tmp_path, qtbot, monkeypatch):
    import threading
    from .fakes import SlowEngine, mini_factory
    gate = threading.Event()
    win = make_window(engine=SlowEngine(gate=gate), session_factory=mini_factory)
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    win.editor.add_point(30, 40)
    out = tmp_path / "slow.png"
    assert win.export(out, "png") is not None
    monkeypatch.setattr(dialogs, "ask_stop_export", lambda parent: False)
    win.editor.mark_saved()
    win.close()
    assert win.isVisible(), "keeping the export running keeps the window"
    monkeypatch.setattr(dialogs, "ask_stop_export", lambda parent: True)
    win.close()
    assert not win.isVisible() and not win.compute.is_running()
    assert not out.exists() and not list(tmp_path.glob("*.part"))
