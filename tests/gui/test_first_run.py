"""First run: the empty window offers the sample photo, says which engines are ready and which
a model would add, and leads to the Models dialog in one click; Help → About shows what
``colorstudio --version`` prints."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

import colorstudio
from colorstudio.engines.registry import ENGINES
from colorstudio.models.store import models_path


def _click(qtbot, button):
    assert button.isVisible(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_empty_window_says_what_is_ready_and_opens_the_models_dialog(make_window, qtbot):
    win = make_window()
    assert win.views.currentWidget() is win.welcome
    text = win.welcome.engines.text()
    ready, _, installable = text.partition("Can be installed:")
    weight_free = [spec.label for spec in ENGINES.values() if not spec.needs_weights]
    needing = [spec.label for spec in ENGINES.values() if spec.needs_weights]
    assert weight_free and needing
    assert all(label in ready for label in weight_free), text
    assert all(label in installable for label in needing), text    # a fresh models folder holds none

    _click(qtbot, win.welcome.models_btn)
    qtbot.waitUntil(lambda: win.models_dialog is not None and win.models_dialog.isVisible(), timeout=5000)
    dialog = win.models_dialog

    # A model arrives (as the dialog's import would leave it): the empty window follows.
    name = next(n for n, spec in ENGINES.items() if spec.needs_weights)
    folder = models_path()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENGINES[name].models[0].filename).write_bytes(b"weights")
    with qtbot.waitSignal(win.models.changed, timeout=5000):
        dialog.models_changed.emit(name)
    ready, _, installable = win.welcome.engines.text().partition("Can be installed:")
    assert ENGINES[name].label in ready and ENGINES[name].label not in installable
    dialog.close()


def test_the_sample_photo_opens_with_one_click(make_window, qtbot):
    win = make_window()
    _click(qtbot, win.welcome.sample_btn)
    qtbot.waitUntil(lambda: win.workspace.photo is not None and not win.photo_loader.busy, timeout=10000)
    assert win.views.currentWidget() is win.canvas
    assert win.workspace.photo.path.name == "sample_portrait.jpg"


def test_help_about_shows_versions_device_and_models(make_window, qtbot):
    import torch
    win = make_window()
    win.actions_by_name["about"].trigger()
    qtbot.waitUntil(lambda: getattr(win, "about_dialog", None) is not None and win.about_dialog.isVisible(),
                    timeout=10000)
    dialog = win.about_dialog
    details = dialog.details.toPlainText()
    assert details.startswith(f"colorstudio {colorstudio.__version__}\n")
    assert f"torch {torch.__version__}" in details and "\nQt " in details and "\ndevice: " in details
    from colorstudio.models.registry import MODELS
    for info in MODELS.values():
        if info.bundled:   # always installed, and its licence text is shown in full
            assert f"{info.name} ({info.label}): licence {info.licence}; bundled with Colorstudio" in details
            assert f"{info.label}: licence\n\n" in details
    QApplication.clipboard().clear()
    _click(qtbot, dialog.copy_button)
    assert QApplication.clipboard().text() == details
    close = dialog.buttons.button(dialog.buttons.StandardButton.Close)
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        _click(qtbot, close)
