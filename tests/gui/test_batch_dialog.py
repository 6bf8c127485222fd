"""The Batch dialog: run a folder, see each photo's status, pause, resume, cancel, fix one, previews first."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from colorstudio.core.batch import MANIFEST_NAME
from colorstudio.core.batch.step import file_sha256
from colorstudio.core.document import AutosaveStore, Document, PhotoRef
from colorstudio.core.hints import Hints, PointHint
from colorstudio.core.image import open_image
from colorstudio.gui.batch_dialog import BatchDialog

from .fakes import SlowEngine


def grey(path: Path, value: int) -> Path:
    a = np.full((12, 16), value, np.uint8)
    a[:, 8:] = 255 - value
    Image.fromarray(a, "L").save(path)
    return path


def document_for(store: AutosaveStore, path: Path, color: str = "#aa3322") -> None:
    sha = open_image(path).content_hash
    store.save(Document(hints=Hints(points=(PointHint(4, 4, color, 3),)), photo=PhotoRef(str(path), sha, 16, 12)))


def store_for_bytes(store: AutosaveStore, path: Path) -> None:
    store.save(Document(hints=Hints(points=(PointHint(4, 4, "#aa3322", 3),)),
                        photo=PhotoRef(str(path), file_sha256(path), 16, 12)))


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    store = AutosaveStore(tmp_path / "autosave")
    return {"src": src, "out": tmp_path / "out", "store": store}


def open_dialog(make_window, qtbot, tree, engine) -> tuple:
    win = make_window(engine=engine, autosave=tree["store"])
    win.actions_by_name["batch"].trigger()
    dlg = win.batch_dialog
    assert isinstance(dlg, BatchDialog) and dlg.isVisible()
    assert dlg.mode_combo.currentText() == "document"
    dlg.source_edit.setText(str(tree["src"]))
    dlg.output_edit.setText(str(tree["out"]))
    return win, dlg


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def run_to_end(qtbot, dlg, timeout=30000) -> None:
    with qtbot.waitSignal(dlg.batch_finished, timeout=timeout):
        click(qtbot, dlg.start_button)


def manifest(out: Path) -> dict:
    db = sqlite3.connect(out / MANIFEST_NAME)
    rows = {r[0]: r[1] for r in db.execute("SELECT source, status FROM photos")}
    db.close()
    return rows


def test_a_batch_shows_each_photo_done_skipped_or_failed_with_the_reason(make_window, qtbot, tree):
    edited = grey(tree["src"] / "edited.png", 60)
    grey(tree["src"] / "plain.png", 120)
    broken = tree["src"] / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is no photo")
    document_for(tree["store"], edited)
    # The broken file has a document (it was whole when it was edited): the batch tries it and fails.
    store_for_bytes(tree["store"], broken)
    win, dlg = open_dialog(make_window, qtbot, tree, SlowEngine())
    run_to_end(qtbot, dlg)
    assert dlg.status_of("edited.png")[0] == "done"
    assert (tree["out"] / "edited.png").is_file()
    status, why = dlg.status_of("plain.png")
    assert status == "skipped" and "no saved edit document" in why
    status, why = dlg.status_of("broken.png")
    assert status == "failed" and why  # the reason is the row's tooltip, and its Reason column
    assert dlg.items["broken.png"].text(2) == why
    assert manifest(tree["out"]) == {"edited.png": "done", "plain.png": "skipped", "broken.png": "failed"}
    # The output is colour where the document's hint asked for it (the fake engine paints its last hint).
    rgb = np.asarray(Image.open(tree["out"] / "edited.png").convert("RGB")).astype(int)
    assert rgb[..., 0].mean() > rgb[..., 2].mean() + 5
    # Thumbnails were decoded off the GUI thread for the photos that decode.
    qtbot.waitUntil(lambda: dlg.thumbs is None, timeout=10000)
    assert not dlg.items["edited.png"].icon(0).isNull()
    assert dlg.items["broken.png"].icon(0).isNull()
    assert dlg.progress.value() == dlg.progress.maximum() == 3
    assert dlg.progress.text() == "3 of 3" and "photos/min" in dlg.rate_label.text()
    # Run again: nothing to do, every finished photo is up to date (the manifest resumes).
    run_to_end(qtbot, dlg)
    assert dlg.status_of("edited.png")[0] == "done (up to date)"


def test_pause_holds_the_next_photo_and_resume_finishes(make_window, qtbot, tree):
    for i in range(3):
        document_for(tree["store"], grey(tree["src"] / f"p{i}.png", 40 + 30 * i))
    gate = threading.Event()
    engine = SlowEngine(gate=gate)
    win, dlg = open_dialog(make_window, qtbot, tree, engine)
    with qtbot.waitSignal(dlg.batch_finished, timeout=30000):
        click(qtbot, dlg.start_button)
        qtbot.waitUntil(lambda: engine.active == 1, timeout=10000)   # the first photo is being colorized
        click(qtbot, dlg.pause_button)
        assert dlg.resume_button.isEnabled() and not dlg.pause_button.isEnabled()
        gate.set()                                                     # the photo in flight finishes
        qtbot.waitUntil(lambda: dlg.status_of("p0.png")[0] == "done", timeout=10000)
        qtbot.waitUntil(lambda: dlg.gate.blocked > 0, timeout=10000)  # the batch waits at the next photo
        assert engine.calls == 1
        assert [dlg.status_of(f"p{i}.png")[0] for i in (1, 2)] == ["pending", "pending"]
        click(qtbot, dlg.resume_button)
    assert engine.calls == 3
    assert [dlg.status_of(f"p{i}.png")[0] for i in range(3)] == ["done"] * 3


def test_cancel_stops_after_the_photo_in_flight_and_start_goes_on(make_window, qtbot, tree):
    for i in range(3):
        document_for(tree["store"], grey(tree["src"] / f"p{i}.png", 40 + 30 * i))
    gate = threading.Event()
    engine = SlowEngine(gate=gate)
    win, dlg = open_dialog(make_window, qtbot, tree, engine)
    with qtbot.waitSignal(dlg.batch_finished, timeout=30000):
        click(qtbot, dlg.start_button)
        qtbot.waitUntil(lambda: engine.active == 1, timeout=10000)
        click(qtbot, dlg.cancel_button)
        assert not dlg.cancel_button.isEnabled() and not dlg.start_button.isEnabled()
        gate.set()
    assert engine.calls == 1
    assert [dlg.status_of(f"p{i}.png")[0] for i in range(3)] == ["done", "pending", "pending"]
    assert "Cancelled" in dlg.message.text()
    assert manifest(tree["out"]) == {"p0.png": "done"}
    run_to_end(qtbot, dlg)   # a later Start goes on from the manifest
    assert engine.calls == 3
    assert [dlg.status_of(f"p{i}.png")[0] for i in range(3)] == ["done (up to date)", "done", "done"]


def test_fix_one_in_the_editor_and_re_render_it(make_window, qtbot, tree):
    a = grey(tree["src"] / "a.png", 60)
    grey(tree["src"] / "b.png", 120)
    document_for(tree["store"], a, "#aa3322")
    engine = SlowEngine()
    win, dlg = open_dialog(make_window, qtbot, tree, engine)
    run_to_end(qtbot, dlg)
    assert dlg.status_of("b.png")[0] == "skipped"
    # Double-click the skipped photo: the window opens it in the editor.
    item = dlg.items["b.png"]
    with qtbot.waitSignal(win.photo_open_finished, timeout=10000) as opened:
        rect = dlg.tree.visualItemRect(item)
        # A view's double-click follows a press: QTest sends the second click only.
        qtbot.mouseClick(dlg.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(dlg.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [True]
    assert Path(win.workspace.photo_ref.path).name == "b.png"
    # The user gives it a document (as the editor's autosave does), selects the row, re-renders it.
    document_for(tree["store"], tree["src"] / "b.png", "#2233aa")
    dlg.tree.setCurrentItem(item)
    with qtbot.waitSignal(dlg.batch_finished, timeout=30000):
        click(qtbot, dlg.rerender_button)
    assert dlg.status_of("b.png")[0] == "done"
    rgb = np.asarray(Image.open(tree["out"] / "b.png").convert("RGB")).astype(int)
    assert rgb[..., 2].mean() > rgb[..., 0].mean() + 5
    assert manifest(tree["out"])["b.png"] == "done"
    # Re-rendering a photo already done replaces the batch's own output (no "up to date" shortcut).
    document_for(tree["store"], a, "#2233aa")
    before = engine.calls
    dlg.tree.setCurrentItem(dlg.items["a.png"])
    with qtbot.waitSignal(dlg.batch_finished, timeout=30000):
        click(qtbot, dlg.rerender_button)
    assert engine.calls == before + 1 and dlg.status_of("a.png")[0] == "done"
    rgb = np.asarray(Image.open(tree["out"] / "a.png").convert("RGB")).astype(int)
    assert rgb[..., 2].mean() > rgb[..., 0].mean() + 5


def test_a_preview_in_progress_holds_the_batch(make_window, qtbot, tree):
    """The priority rule: while the window's compute thread is busy, no batch photo starts colorizing."""
    for i in range(2):
        document_for(tree["store"], grey(tree["src"] / f"p{i}.png", 50 + 40 * i))
    preview_gate = threading.Event()
    engine = SlowEngine(gate=preview_gate)   # the window's previews wait on this; the batch shares it
    win = make_window(engine=engine, autosave=tree["store"])
    win.open_photo(str(tree["src"] / "p0.png"))
    qtbot.waitUntil(lambda: win.compute.busy and engine.active == 1, timeout=10000)
    previews = engine.calls   # the window's compute thread is held in this one until the gate opens
    win.actions_by_name["batch"].trigger()
    dlg = win.batch_dialog
    assert dlg.runtime is win.compute.runtime
    dlg.source_edit.setText(str(tree["src"]))
    dlg.output_edit.setText(str(tree["out"]))
    with qtbot.waitSignal(dlg.batch_finished, timeout=30000):
        click(qtbot, dlg.start_button)
        qtbot.waitUntil(lambda: dlg.gate.blocked > 0, timeout=10000)   # the batch waits for the preview
        assert engine.calls == previews                               # no batch photo has started
        preview_gate.set()                                             # the preview is delivered
    assert engine.calls >= previews + 2
    assert dlg.gate.waits >= 1
    assert [dlg.status_of(f"p{i}.png")[0] for i in range(2)] == ["done", "done"]


def test_closing_the_window_stops_a_paused_batch(make_window, qtbot, tree):
    for i in range(2):
        document_for(tree["store"], grey(tree["src"] / f"p{i}.png", 40 + 30 * i))
    gate = threading.Event()
    engine = SlowEngine(gate=gate)
    win, dlg = open_dialog(make_window, qtbot, tree, engine)
    click(qtbot, dlg.start_button)
    qtbot.waitUntil(lambda: engine.active == 1, timeout=10000)
    click(qtbot, dlg.pause_button)
    gate.set()
    qtbot.waitUntil(lambda: dlg.gate.blocked > 0, timeout=10000)
    job = dlg.job
    win.close()   # the leak check of conftest fails the test if the batch's thread still runs
    assert not job.isRunning()
    assert manifest(tree["out"]) == {"p0.png": "done"}


def test_start_without_folders_says_so(make_window, qtbot, tree):
    win = make_window(engine=SlowEngine(), autosave=tree["store"])
    win.actions_by_name["batch"].trigger()
    dlg = win.batch_dialog
    click(qtbot, dlg.start_button)
    assert "Choose a source folder" in dlg.message.text() and dlg.job is None
    dlg.source_edit.setText(str(tree["src"]))
    dlg.output_edit.setText(str(tree["src"] / "out"))
    with qtbot.waitSignal(dlg.batch_finished, timeout=10000):
        click(qtbot, dlg.start_button)
    assert "inside the source folder" in dlg.message.text()


SHARED_PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "photos"


def choose(qtbot, combo, text: str) -> None:
    """Open a combo box's list with a click, walk to the item ``text`` with the arrow keys
    and take it with Return (a click on the list right after it opened counts as the
    opening click's release, so the keys are the user's other way)."""
    assert combo.isEnabled(), combo.objectName()
    row = combo.findText(text)
    assert row >= 0, (text, [combo.itemText(i) for i in range(combo.count())])
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    qtbot.keyClick(view, Qt.Key.Key_Home)
    for _ in range(row):
        qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5000)
    assert combo.currentText() == text


@pytest.mark.skipif(not SHARED_PHOTOS.is_dir(), reason="the shared test photos are absent")
def test_reference_mode_with_a_chosen_picture_and_engine_runs_on_the_apps_runtime(make_window, qtbot, tree,
                                                                                  monkeypatch):
    """Choose reference mode, a reference picture and the engine with clicks; the batch colours
    every photo from the picture with the window's own runtime (its engines, built once)."""
    from colorstudio.gui import batch_dialog
    for i in range(2):
        Image.open(SHARED_PHOTOS / "kodim03.png").convert("L").resize((48, 32)).rotate(90 * i).save(
            tree["src"] / f"p{i}.png")
    reference = tree["src"].parent / "sunset.png"
    a = np.zeros((40, 60, 3), np.uint8)
    a[..., 0], a[..., 1], a[..., 2] = 230, 120, 30          # warm orange, whatever the tone
    a[:, :, 1] = np.linspace(60, 200, 60, dtype=np.uint8)   # with a range of lightness
    Image.fromarray(a).save(reference)
    win = make_window(autosave=tree["store"])   # real engines from the registry
    win.actions_by_name["batch"].trigger()
    dlg = win.batch_dialog
    assert dlg.runtime is win.compute.runtime
    dlg.source_edit.setText(str(tree["src"]))
    dlg.output_edit.setText(str(tree["out"]))
    assert not dlg.reference_row.isEnabled() and not dlg.engine_combo.isEnabled()   # document mode

    choose(qtbot, dlg.mode_combo, "reference")
    assert dlg.reference_row.isEnabled() and dlg.engine_combo.isEnabled()
    engines = [dlg.engine_combo.itemData(i) for i in range(dlg.engine_combo.count())]
    assert engines[0] is None and "exemplar" in engines and "propagation" not in engines
    click(qtbot, dlg.start_button)
    assert "Choose a reference picture" in dlg.message.text() and dlg.job is None

    monkeypatch.setattr(batch_dialog.QFileDialog, "getOpenFileName", lambda *a, **k: (str(reference), ""))
    click(qtbot, dlg.reference_browse)
    assert dlg.reference_edit.text() == str(reference)
    choose(qtbot, dlg.engine_combo, dlg.engine_combo.itemText(engines.index("exemplar")))
    built_before = win.compute.runtime.engines_built["exemplar"]
    run_to_end(qtbot, dlg)

    assert [dlg.status_of(f"p{i}.png")[0] for i in range(2)] == ["done", "done"]
    db = sqlite3.connect(tree["out"] / MANIFEST_NAME)
    rows = {r[0]: r[1:] for r in db.execute("SELECT source, status, mode, engine FROM photos")}
    db.close()
    assert rows == {f"p{i}.png": ("done", "reference", "exemplar") for i in range(2)}
    for i in range(2):
        rgb = np.asarray(Image.open(tree["out"] / f"p{i}.png").convert("RGB")).astype(int)
        assert rgb[..., 0].mean() > rgb[..., 2].mean() + 10, i   # the reference's warm colours
    assert win.compute.runtime.engines_built["exemplar"] == built_before + 1   # once, on the app's runtime


def test_an_engine_whose_model_is_missing_is_listed_but_cannot_be_chosen(make_window, qtbot, tree, monkeypatch):
    from colorstudio.gui import availability
    win, dlg = open_dialog(make_window, qtbot, tree, SlowEngine())
    dlg.mode_combo.setFocus()
    while dlg.mode_combo.currentText() != "auto":
        qtbot.keyClick(dlg.mode_combo, Qt.Key.Key_Down)
    i = dlg.engine_combo.findData("siggraph17")
    assert i > 0 and dlg.engine_combo.itemText(i).endswith("not installed")
    assert not dlg.engine_combo.model().item(i).isEnabled()
    assert "install it from Models" in dlg.engine_combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    # The keyboard walks past the engines that cannot run here (this test's models folder is empty).
    dlg.engine_combo.setFocus()
    for _ in range(dlg.engine_combo.count()):
        qtbot.keyClick(dlg.engine_combo, Qt.Key.Key_Down)
    assert dlg.engine_combo.currentData() is None
    # Start with no model for the mode: one sentence in the app's words, and nothing begins.
    grey(tree["src"] / "p.png", 90)
    click(qtbot, dlg.start_button)
    assert dlg.job is None and not tree["out"].exists()
    text = dlg.message.text()
    assert "not installed" in text and "Tools \u203a Models" in text and "colorstudio models" not in text
    # Once the model is installed (the model manager says so), the engine can be chosen.
    monkeypatch.setattr(availability, "weights_installed", lambda name: name == "siggraph17")
    win.models.changed.emit("siggraph17")
    i = dlg.engine_combo.findData("siggraph17")
    assert dlg.engine_combo.model().item(i).isEnabled() and "not installed" not in dlg.engine_combo.itemText(i)
    qtbot.keyClick(dlg.engine_combo, Qt.Key.Key_Down)
    assert dlg.engine_combo.currentData() == "siggraph17"
    assert dlg.settings().engine == "siggraph17"
