"""The neural engines in the app: automatic and hints modes, suggestions, devices, models.

A test checkpoint (the real siggraph17 / eccv16 architectures with random weights, output
layers scaled so that the colours are clear) is placed in the isolated models folder under
its published name, so the app sees the model as installed. An engine factory injected
into the window loads it with ``weights=path`` (which skips only the registry's checksum)
at small working sizes; one test instead patches the registry entry to the test file's
checksum and goes through the default factory, hash check included.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog

from colorstudio.core.color import rgb_to_lab
from colorstudio.engines.base import Chroma, Engine, EngineSession
from colorstudio.engines.eccv16 import Eccv16Engine
from colorstudio.engines.registry import create_engine
from colorstudio.engines.siggraph17 import Siggraph17Engine
from colorstudio.gui import models_dialog
from colorstudio.gui.compute import SuggestJob
from colorstudio.gui.models_dialog import ModelsDialog
from colorstudio.models import get_model, registry
from colorstudio.models.testing import test_checkpoint

from .fakes import edge_photo
from .test_canvas_editing import at

WAIT_MS = 30000
ENGINES = {"siggraph17": Siggraph17Engine, "eccv16": Eccv16Engine}


def checkpoint(tmp_path_factory, name: str) -> Path:
    """A test checkpoint of ``name`` in the published format, written once per session."""
    return test_checkpoint(tmp_path_factory.getbasetemp() / "neural-test-checkpoints", name)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict:
    return {name: checkpoint(tmp_path_factory, name) for name in ENGINES}


@pytest.fixture
def install(isolated, checkpoints):
    """install(*names): the test checkpoints appear in the models folder under their published names."""
    folder = isolated / "models"

    def put(*names):
        folder.mkdir(exist_ok=True)
        for name in names:
            os.symlink(checkpoints[name], folder / get_model(name).filename)
    return put


class Factory:
    """Builds engines as the app does, loading the test checkpoints (small working sizes)."""

    def __init__(self, checkpoints):
        self.checkpoints = checkpoints
        self.built = []

    def __call__(self, choice):
        self.built.append(choice)
        if choice.name in ENGINES:
            return ENGINES[choice.name](weights=self.checkpoints[choice.name], device=choice.device,
                                        precision="float32", preview_side=96, render_side=128)
        return create_engine(choice.name)


@pytest.fixture
def factory(checkpoints):
    return Factory(checkpoints)


def wait_preview(qtbot, win, action=None, engine: str = None):
    """Run ``action``, then wait for an up-to-date colour preview (from ``engine`` if given)."""
    def ok(r):
        return (r.rgb is not None and win.compute.preview_up_to_date and not win.editor.interacting
                and (engine is None or r.engine_name == engine))
    with qtbot.waitSignal(win.workspace.preview_ready, timeout=WAIT_MS, check_params_cb=ok) as blocker:
        if action is not None:
            action()
    return blocker.args[0]


def median_chroma(rgb: np.ndarray) -> float:
    lab = rgb_to_lab(rgb.reshape(-1, 3).astype(np.float32) / 255.0)
    return float(np.median(np.hypot(lab[:, 1], lab[:, 2])))


def test_automatic_mode_shows_the_networks_colours(make_window, install, factory, tmp_path, qtbot):
    install("siggraph17")
    win = make_window(engine_factory=factory)
    result = wait_preview(qtbot, win, lambda: win.open_photo(edge_photo(tmp_path / "edge.png")))
    doc = win.editor.document
    assert doc.mode == "auto" and doc.engine == "siggraph17", "a photo starts in Automatic mode once a model is in"
    assert result.engine_name == "siggraph17" and result.device == "cpu"
    assert median_chroma(result.rgb) > 3, "the network's colours, not the grey photo"
    text = win.status_engine.text()
    assert "SIGGRAPH 2017" in text and "CPU" in text and text.endswith(" s"), text
    assert win.mode_panel.page("auto").notice.isHidden()
    combo = win.mode_panel.engine_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["siggraph17", "eccv16"]
    assert "not installed" in combo.itemText(1)


def test_automatic_mode_can_switch_to_eccv16_and_says_which_engine_made_the_picture(make_window, install, factory,
                                                                                   tmp_path, qtbot):
    install("siggraph17", "eccv16")
    win = make_window(engine_factory=factory)
    first = wait_preview(qtbot, win, lambda: win.open_photo(edge_photo(tmp_path / "edge.png")))
    combo = win.mode_panel.engine_combo
    second = wait_preview(qtbot, win, lambda: combo.setCurrentIndex(combo.findData("eccv16")), engine="eccv16")
    assert win.editor.document.engine == "eccv16"
    assert "ECCV 2016" in win.status_engine.text()
    assert median_chroma(second.rgb) > 3
    assert np.abs(second.rgb.astype(int) - first.rgb.astype(int)).mean() > 2, "another network, another picture"
    win.editor.undo_stack.undo()
    third = wait_preview(qtbot, win, engine="siggraph17")
    assert np.array_equal(third.rgb, first.rgb), "switching back gives the same picture"


def test_hints_mode_uses_siggraph17_and_a_click_changes_the_colours_near_it(make_window, install, factory,
                                                                          tmp_path, qtbot):
    install("siggraph17")
    win = make_window(engine_factory=factory)
    wait_preview(qtbot, win, lambda: win.open_photo(edge_photo(tmp_path / "edge.png")))
    before = wait_preview(qtbot, win, lambda: win.mode_panel.buttons["hints"].click())
    assert win.editor.document.mode == "hints" and win.editor.document.engine == "siggraph17"
    c = win.canvas
    win.palette_panel.choose("#2050ff")
    after = wait_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    assert len(win.editor.hints.points) == 1
    change = np.abs(after.rgb.astype(int) - before.rgb.astype(int)).sum(-1)
    h, w = change.shape
    sy, sx = h / 160, w / 240
    near = change[int(70 * sy):int(90 * sy), int(30 * sx):int(50 * sx)].mean()
    far = change[:, int(180 * sx):].mean()
    assert near > 3 and near > 5 * far, f"the hint changed the picture near it ({near:.1f}) more than far ({far:.1f})"


def test_suggestions_for_the_selected_hint_come_from_the_network_without_that_hint(make_window, install, factory,
                                                                                 tmp_path, qtbot, checkpoints):
    install("siggraph17")
    win = make_window(engine_factory=factory)
    photo = edge_photo(tmp_path / "edge.png")
    wait_preview(qtbot, win, lambda: win.open_photo(photo))
    win.workspace.switch_mode("hints")
    c = win.canvas
    jobs = []
    original = win.compute.suggest
    win.compute.suggest = lambda job: jobs.append(job) or original(job)
    wait_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 200, 40)))
    wait_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    # Placing a point does not select it; clicking it does, and asks for its suggestions.
    with qtbot.waitSignal(win.compute.suggestions_ready, timeout=WAIT_MS,
                          check_params_cb=lambda s: abs(s.x - 40) < 1 and abs(s.y - 80) < 1) as got:
        qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80))
    sug = got.args[0]
    hints = win.editor.hints
    assert len(hints.points) == 2 and win.editor.selection == ("point", 1)
    job: SuggestJob = jobs[-1]
    assert job.hints.points == hints.points[:1], "asked without the selected hint"
    assert (job.x, job.y) == (hints.points[1].x, hints.points[1].y)
    # The same question asked of the same network directly: same colours, same order.
    engine = Siggraph17Engine(weights=checkpoints["siggraph17"], device="cpu", precision="float32",
                              preview_side=96, render_side=128)
    expected = engine.start(win.workspace.photo.lightness).suggest_colors(job.hints, job.x, job.y, 8)
    assert [tuple(rgb) for rgb, _ in sug.colors] == [tuple(rgb) for rgb, _ in expected]
    shares = [share for _, share in sug.colors]
    assert len(shares) >= 2 and shares == sorted(shares, reverse=True), "most likely first"
    palette = win.palette_panel
    assert palette.suggest_label.isVisible()
    shown = [palette.suggest_row.itemAt(i).widget() for i in range(palette.suggest_row.count())]
    shown = [b.color for b in shown if b is not None]
    assert shown == ["#%02x%02x%02x" % tuple(rgb) for rgb, _ in sug.colors]
    win.editor.select(None)
    assert not palette.suggest_label.isVisible(), "suggestions belong to the selected hint"


def test_switching_photos_keeps_the_loaded_model(make_window, install, factory, tmp_path, qtbot):
    install("siggraph17")
    win = make_window(engine_factory=factory)
    wait_preview(qtbot, win, lambda: win.open_photo(edge_photo(tmp_path / "a.png")))
    engine = next(iter(win.compute.workshop.cached_engines().values()))
    runner = engine.runner
    wait_preview(qtbot, win, lambda: win.open_photo(edge_photo(tmp_path / "b.png", width=200, height=150)))
    wait_preview(qtbot, win, lambda: win.open_photo(tmp_path / "a.png"))
    assert [c.name for c in factory.built] == ["siggraph17"], "one engine built for three photo openings"
    assert win.compute.workshop.engines_built["siggraph17"] == 1
    assert engine.runner is runner, "the network was loaded once and kept"


def test_the_chosen_device_reaches_the_engine(make_window, install, factory, tmp_path, qtbot):
    install("siggraph17")
    win = make_window(engine_factory=factory)
    wait_preview(qtbot, win, lambda: win.open_photo(edge_photo(tmp_path / "a.png")))
    qtbot.waitUntil(lambda: win.mode_panel.device_combo.count() > 1, timeout=WAIT_MS)
    combo = win.mode_panel.device_combo
    devices = [combo.itemData(i) for i in range(combo.count())]
    assert devices[0] == "auto" and "cpu" in devices
    assert ("cuda" in devices) == torch.cuda.is_available()
    wait_preview(qtbot, win, lambda: combo.setCurrentIndex(combo.findData("cpu")))
    assert [c.device for c in factory.built] == ["auto", "cpu"]
    cached = win.compute.workshop.cached_engines()
    assert [c.device for c in cached] == ["cpu"], "one copy of the network: the new device replaced the old"
    assert "CPU" in win.status_engine.text()


class NoticeSession(EngineSession):
    def __init__(self, lightness):
        self.lightness = lightness

    def chroma(self, hints, *, quality="render", max_side=None, references=(), options=None, should_stop=None):
        h, w = self.lightness.shape
        ab = np.full((h, w, 2), 20.0, np.float32)
        return Chroma(ab, self.lightness.astype(np.float32),
                      info={"device": "cpu", "message": "the GPU ran out of memory, so it now runs on the CPU"})


class NoticeEngine(Engine):
    name = "siggraph17"
    label = "Engine with a notice"
    needs_weights = True

    def start(self, lightness, photo=None):
        return NoticeSession(lightness)


def test_what_the_engine_had_to_adapt_is_said_once(make_window, install, tmp_path, qtbot):
    install("siggraph17")
    win = make_window(engine_factory=lambda choice: NoticeEngine())
    said = []
    win.statusBar().messageChanged.connect(lambda text: text and said.append(text))
    wait_preview(qtbot, win, lambda: win.open_photo(edge_photo(tmp_path / "a.png")))
    win.palette_panel.choose("#2050ff")
    c = win.canvas
    wait_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    notices = [t for t in said if "ran out of memory" in t]
    assert notices == ["The GPU ran out of memory, so it now runs on the CPU"]


def test_the_mode_panel_leads_to_the_models_dialog_in_one_click(make_window, tmp_path, qtbot):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "a.png"))
    assert win.editor.document.mode == "hints", "without models a photo starts in Hints mode"
    win.mode_panel.buttons["auto"].click()
    notice = win.mode_panel.page("auto").notice
    assert notice.isVisible() and notice.button.isVisible()
    qtbot.mouseClick(notice.button, Qt.MouseButton.LeftButton)
    dlg = win.models_dialog
    assert isinstance(dlg, ModelsDialog) and dlg.isVisible()
    assert dlg.selected_name() == "siggraph17", "the model the mode needs is selected"
    dlg.close()
    qtbot.waitUntil(lambda: win.models_dialog is None, timeout=WAIT_MS)
    action = win.actions_by_name["models"]
    assert not action.icon().isNull()
    assert any(action in m.menu().actions() for m in win.menuBar().actions() if m.menu()), "in a menu"
    action.trigger()
    assert isinstance(win.models_dialog, ModelsDialog) and win.models_dialog.isVisible()


def test_importing_and_removing_a_model_in_the_dialog_updates_the_app(make_window, checkpoints, tmp_path, qtbot,
                                                                      monkeypatch):
    # The registry entry is patched to the test file's checksum, so the app's own engine
    # factory loads it, published-checksum check included.
    src = checkpoints["siggraph17"]
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setitem(registry.MODELS, "siggraph17",
                        registry.derive(registry.MODELS["siggraph17"], sha256_prefix=digest[:8]))
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "a.png"))
    win.mode_panel.buttons["auto"].click()
    notice = win.mode_panel.page("auto").notice
    assert notice.isVisible()
    qtbot.mouseClick(notice.button, Qt.MouseButton.LeftButton)
    dlg = win.models_dialog
    monkeypatch.setattr(models_dialog, "choose_weights_file", lambda parent, name: str(src))
    result = wait_preview(qtbot, win, lambda: qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton),
                          engine="siggraph17")
    assert win.editor.document.engine == "siggraph17"
    assert median_chroma(result.rgb) > 3
    assert notice.isHidden(), "the mode panel follows"
    combo = win.mode_panel.engine_combo
    assert combo.itemText(combo.findData("siggraph17")) == "SIGGRAPH 2017 user-guided network"
    assert win.compute.workshop.engines_built["siggraph17"] == 1
    monkeypatch.setattr(models_dialog, "confirm_remove", lambda parent, name, path: True)
    dlg.select_model("siggraph17")
    with qtbot.waitSignal(win.workspace.preview_ready, timeout=WAIT_MS, check_params_cb=lambda r: r.rgb is None):
        qtbot.mouseClick(dlg.remove_button, Qt.MouseButton.LeftButton)
    assert notice.isVisible() and "not installed" in notice.text.text()
    assert "not installed" in combo.itemText(combo.findData("siggraph17"))
    # The network is let go at once (memory), not at the next preview.
    qtbot.waitUntil(lambda: all(c.name != "siggraph17" for c in win.compute.workshop.cached_engines()),
                    timeout=WAIT_MS)
    # Installed again: a fresh engine is built (the old one was dropped, not reused).
    wait_preview(qtbot, win, lambda: qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton),
                 engine="siggraph17")
    assert win.compute.workshop.engines_built["siggraph17"] == 2


def test_a_picked_engine_that_is_not_installed_says_so_and_leads_to_its_model(make_window, install, factory,
                                                                           tmp_path, qtbot):
    install("siggraph17")
    win = make_window(engine_factory=factory)
    assert win.open_photo(edge_photo(tmp_path / "a.png"))
    win.palette_panel.choose("#2050ff")
    win.editor.add_point(40, 80)
    combo = win.mode_panel.engine_combo
    combo.setCurrentIndex(combo.findData("eccv16"))
    assert win.editor.document.engine == "eccv16"
    notice = win.mode_panel.page("auto").notice
    assert notice.isVisible(), "the mode can run, but not with the engine picked"
    assert "ECCV 2016" in notice.text.text() and "not installed" in notice.text.text()
    qtbot.mouseClick(notice.button, Qt.MouseButton.LeftButton)
    assert win.models_dialog.selected_name() == "eccv16"


def test_the_app_builds_neural_engines_with_the_chosen_device():
    from colorstudio.engines.base import EngineError
    from colorstudio.gui.compute import EngineChoice, default_engine_factory
    engine = default_engine_factory(EngineChoice("siggraph17", "cpu"))
    assert isinstance(engine, Siggraph17Engine) and not engine.loaded, "built on demand, loaded at first use"
    assert isinstance(default_engine_factory(EngineChoice("eccv16", "auto")), Eccv16Engine)
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="no CUDA GPU"):
            default_engine_factory(EngineChoice("siggraph17", "cuda"))


class ModelsChangedDialog(QDialog):
    """A stand-in model manager: says a model changed, as the real one does after an install."""

    models_changed = Signal(str)


def install_while_open(win, install, name):
    """Install ``name`` and tell the window through its model manager, as an import does."""
    win.models_dialog_factory = ModelsChangedDialog
    dlg = win.show_models(name)
    install(name)
    dlg.models_changed.emit(name)
    dlg.close()


def test_installing_a_model_in_hints_mode_moves_an_automatic_engine_to_the_network(make_window, install, factory,
                                                                                   tmp_path, qtbot):
    win = make_window(engine_factory=factory)
    assert win.open_photo(edge_photo(tmp_path / "a.png"))
    win.palette_panel.choose("#2050ff")
    wait_preview(qtbot, win, lambda: win.editor.add_point(40, 80), engine="propagation")
    doc = win.editor.document
    assert (doc.mode, doc.engine) == ("hints", "propagation"), "without models: Hints mode, propagation"
    result = wait_preview(qtbot, win, lambda: install_while_open(win, install, "siggraph17"), engine="siggraph17")
    doc = win.editor.document
    assert (doc.mode, doc.engine) == ("hints", "siggraph17"), "as a new photo would start"
    assert result.engine_name == "siggraph17"
    combo = win.mode_panel.engine_combo
    assert combo.currentData() == "siggraph17"


def test_installing_a_model_keeps_propagation_when_the_user_picked_it(make_window, install, factory, tmp_path,
                                                                      qtbot):
    win = make_window(engine_factory=factory)
    assert win.open_photo(edge_photo(tmp_path / "a.png"))
    win.palette_panel.choose("#2050ff")
    win.editor.add_point(40, 80)
    combo = win.mode_panel.engine_combo
    combo.setCurrentIndex(combo.findData("siggraph17"))
    wait_preview(qtbot, win, lambda: combo.setCurrentIndex(combo.findData("propagation")), engine="propagation")
    assert win.editor.document.engine == "propagation"
    result = wait_preview(qtbot, win, lambda: install_while_open(win, install, "siggraph17"))
    assert win.editor.document.engine == "propagation" and result.engine_name == "propagation"
    assert combo.currentData() == "propagation"
    assert [c.name for c in factory.built if c.name == "siggraph17"] == [], "the network was never loaded"
