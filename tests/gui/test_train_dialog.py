"""The Train dialog: a real (tiny) training from the app, its live loss plot and samples,
Cancel keeping the checkpoint, Resume, and the trained model in the engine choice."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from colorstudio.models import user as store
from colorstudio.training.job import Samples

#: Tiny networks on tiny crops: each training here takes a second or two on two cores.
TINY = {"workers": 0, "seed": 1, "options": {"width": 8, "depth": 3}, "evaluate": False, "learning_rate": 3e-3}


@pytest.fixture
def photos(tmp_path):
    """Three small colour pictures: smooth gradients in different hues."""
    folder = tmp_path / "photos"
    folder.mkdir()
    y, x = np.mgrid[0:64, 0:64] / 63.0
    for i, (a, b, c) in enumerate(((x, y, 1 - x), (1 - y, x * y, y), (0.5 + 0.5 * x, 0.3 * y, 0.8 - 0.6 * x))):
        rgb = np.stack([a, b, c], -1)
        Image.fromarray((255 * np.clip(rgb, 0, 1)).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def open_dialog(win, photos, name, steps, samples_every=2):
    win.actions_by_name["train"].trigger()      # Tools > Train a colorizer…
    dlg = win.train_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.extra_config = dict(TINY)
    dlg.folder_edit.setText(str(photos))
    dlg.arch_combo.setCurrentIndex(dlg.arch_combo.findData("unet"))
    dlg.steps_spin.setValue(steps)
    dlg.size_spin.setValue(32)
    dlg.batch_spin.setValue(2)
    dlg.name_edit.setText(name)
    dlg.samples_steps_spin.setValue(samples_every)
    return dlg


def auto_engines(win, qtbot) -> list:
    click(qtbot, win.mode_panel.buttons["auto"])
    combo = win.mode_panel.engine_combo
    return [combo.itemData(i) for i in range(combo.count())]


def test_a_training_plots_its_loss_shows_samples_and_becomes_an_engine(make_window, qtbot, photos):
    win = make_window()
    assert "mine" not in auto_engines(win, qtbot)
    dlg = open_dialog(win, photos, "mine", steps=6)
    changed = []
    dlg.models_changed.connect(changed.append)
    with qtbot.waitSignals([dlg.models_changed, dlg.job_done], timeout=60000, order="strict"):
        click(qtbot, dlg.start_button)
        assert not dlg.start_button.isEnabled() and dlg.cancel_button.isEnabled()
    assert changed == ["mine"]
    # Every step's loss reached the plot, in order.
    assert [s for s, _ in dlg.plot.points] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(v) and v > 0 for _, v in dlg.plot.points)
    # The strip shows the held-out crops at the last step: grey | model | truth side by side.
    assert dlg.strip.step == 6 and len(dlg.strip.thumbnails) >= 1
    pix = dlg.strip.thumbnails[0].pixmap()
    assert pix.width() > 2.5 * pix.height()
    assert "mine" in dlg.message_text and "engine" in dlg.message_text
    assert store.model_paths("mine")[1].exists()
    # The window's engine choice for the automatic mode now offers the model.
    assert "mine" in auto_engines(win, qtbot)
    assert dlg.start_button.isEnabled() and not dlg.cancel_button.isEnabled()
    dlg.grab()   # the plot and the strip paint without error


def test_cancel_stops_after_a_step_keeps_the_checkpoint_and_resume_finishes(make_window, qtbot, photos):
    win = make_window()
    dlg = open_dialog(win, photos, "long", steps=1_000_000)
    click(qtbot, dlg.start_button)
    job = dlg.job
    # Samples keep coming every 2 steps: wait for one at step 2 or later, then cancel.
    with qtbot.waitSignal(job.noted, timeout=60000,
                          check_params_cb=lambda note: isinstance(note, Samples) and note.step >= 2):
        pass
    with qtbot.waitSignal(dlg.job_done, timeout=60000):
        click(qtbot, dlg.cancel_button)
        assert not dlg.cancel_button.isEnabled()
    assert dlg.job is None and not job.isRunning()
    stopped = dlg.train_result
    assert stopped is not None and not stopped.finished and 2 <= stopped.step < 1_000_000
    assert "checkpoint is kept" in dlg.message_text
    assert stopped.checkpoint.exists() and not store.model_paths("long")[1].exists()
    assert "long" not in auto_engines(win, qtbot)
    assert dlg.plot.points[-1][0] == stopped.step
    # Resume: the plot starts with the history from the checkpoint and the training finishes.
    click(qtbot, dlg.resume_check)
    dlg.steps_spin.setValue(stopped.step + 3)
    with qtbot.waitSignals([dlg.models_changed, dlg.job_done], timeout=60000, order="strict"):
        click(qtbot, dlg.start_button)
    assert [s for s, _ in dlg.plot.points] == list(range(1, stopped.step + 4))
    assert dlg.train_result.finished and "long" in auto_engines(win, qtbot)


def test_a_folder_without_colour_photos_is_one_sentence(make_window, qtbot, tmp_path):
    win = make_window()
    empty = tmp_path / "empty"
    empty.mkdir()
    dlg = open_dialog(win, empty, "none", steps=3)
    with qtbot.waitSignal(dlg.job_done, timeout=30000):
        click(qtbot, dlg.start_button)
    assert dlg.train_result is None and not store.model_paths("none")[1].exists()
    assert "no colour photos" in dlg.message_text
    assert dlg.start_button.isEnabled()


def test_closing_the_window_during_a_training_stops_it(make_window, qtbot, photos):
    win = make_window()
    dlg = open_dialog(win, photos, "closing", steps=1_000_000)
    click(qtbot, dlg.start_button)
    job = dlg.job
    with qtbot.waitSignal(job.progressed, timeout=60000):
        pass
    win.close()
    assert not job.isRunning()
    assert (store.training_folder("closing") / "checkpoint.pt").exists()


def click_up(qtbot, spin) -> None:
    """A real click on the spin box's up arrow."""
    from PySide6.QtWidgets import QStyle, QStyleOptionSpinBox
    opt = QStyleOptionSpinBox()
    spin.initStyleOption(opt)
    up = spin.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, opt, QStyle.SubControl.SC_SpinBoxUp, spin)
    assert up.isValid() and spin.isEnabled()
    qtbot.mouseClick(spin, Qt.MouseButton.LeftButton, pos=up.center())


def test_threads_is_the_commands_threads_option(make_window, qtbot, photos, monkeypatch):
    """"Auto" is `colorstudio train` without --threads (None: the cores the workers leave);
    a number is --threads N, and the training runs torch with that many threads."""
    from colorstudio.training import cli, loop
    chosen = []
    real = loop._threads
    monkeypatch.setattr(loop, "_threads", lambda config, *a, **k: chosen.append(real(config, *a, **k)) or chosen[-1])
    import argparse
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())

    def threads_option(*words) -> object:
        return parser.parse_args(["train", str(photos), *words]).threads

    win = make_window()
    dlg = open_dialog(win, photos, "threads", steps=2)
    spin = dlg.threads_spin
    assert spin.value() == 0 and spin.text() == "Auto"
    assert dlg.config().threads is None and threads_option() is None
    click_up(qtbot, spin)
    assert spin.value() == 1 and spin.text() == "1"
    assert dlg.config().threads == threads_option("--threads", "1") == 1
    with qtbot.waitSignals([dlg.models_changed, dlg.job_done], timeout=60000, order="strict"):
        click(qtbot, dlg.start_button)
        assert dlg.job.job.config.threads == 1, "the job's config carries the choice"
        assert not spin.isEnabled(), "the form is locked while the training runs"
    assert chosen == [1], "the training ran torch with the chosen threads"
    assert dlg.train_result.finished and spin.isEnabled()
