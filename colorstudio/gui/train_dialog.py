"""The Train dialog (Tools > Train a colorizer…): train a network on a folder of colour photos.

The training is ``colorstudio.training.train`` (the same job as ``colorstudio train``),
wrapped as :class:`colorstudio.training.job.TrainJob` and run on a worker of its own
(gui/workers.py), never the compute thread. The job reports plain data as notes (step
numbers, losses, uint8 arrays); the dialog, on the GUI thread, draws them: a live loss plot
(:class:`LossPlot`, painted with QPainter) and a strip of held-out crops re-colorized with the
current weights every few steps or minutes (:class:`SampleStrip`: grey | model | truth). Cancel stops after the current step and keeps
the last checkpoint (Resume continues it). A finished training is a user model: the dialog
says so and ``models_changed`` lets the window refresh its engines, as the Models dialog does.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QRadioButton, QSpinBox, QVBoxLayout, QWidget)

from .icons import icon
from .workers import JobDialog, Worker

log = logging.getLogger(__name__)


class LossPlot(QWidget):
    """The loss against the step, painted with QPainter: the raw values faint, a running mean bold."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.points: list = []
        self.setMinimumSize(320, 140)
        self.setToolTip("The training loss at each step (faint) and its running mean (bold)")

    def clear(self) -> None:
        self.points = []
        self.update()

    def add_points(self, points) -> None:
        self.points.extend((int(s), float(v)) for s, v in points)
        self.update()

    def smoothed(self) -> list:
        out, mean = [], None
        k = 2.0 / (1.0 + max(5, len(self.points) // 20))
        for s, v in self.points:
            mean = v if mean is None else mean + k * (v - mean)
            out.append((s, mean))
        return out

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        text = pal.text().color()
        margin_l, margin_r, margin_t, margin_b = 52, 10, 10, 22
        area = QRectF(margin_l, margin_t, max(1, self.width() - margin_l - margin_r),
                      max(1, self.height() - margin_t - margin_b))
        p.setPen(QPen(pal.mid().color(), 1))
        p.drawRect(area)
        if not self.points:
            p.setPen(text)
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "The loss appears here as the training runs")
            p.end()
            return
        steps = [s for s, _ in self.points]
        values = [v for _, v in self.points]
        s0, s1 = min(steps), max(steps)
        lo, hi = min(values), max(values)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        s1 = s1 if s1 > s0 else s0 + 1

        def at(s, v) -> QPointF:
            return QPointF(area.left() + area.width() * (s - s0) / (s1 - s0),
                           area.bottom() - area.height() * (v - lo) / (hi - lo))

        for series, colour, width in ((self.points, QColor(120, 160, 220, 110), 1.0),
                                      (self.smoothed(), QColor(30, 100, 210), 2.0)):
            path = QPainterPath(at(*series[0]))
            for s, v in series[1:]:
                path.lineTo(at(s, v))
            p.setPen(QPen(colour, width))
            p.drawPath(path)
        p.setPen(text)
        p.drawText(QRectF(0, area.top() - 6, margin_l - 4, 14), Qt.AlignmentFlag.AlignRight, f"{hi:.3g}")
        p.drawText(QRectF(0, area.bottom() - 8, margin_l - 4, 14), Qt.AlignmentFlag.AlignRight, f"{lo:.3g}")
        p.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 16), Qt.AlignmentFlag.AlignLeft, f"step {s0}")
        p.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 16), Qt.AlignmentFlag.AlignRight,
                   f"step {s1}  loss {values[-1]:.4f}")
        p.end()


def array_to_image(rgb: np.ndarray) -> QImage:
    """An H x W x 3 uint8 array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class SampleStrip(QWidget):
    """Held-out crops as the model colours them now: one thumbnail per photo, grey | model | truth."""

    TILE = 112   # pixels a side of each third of a thumbnail

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sampleStrip")
        self.step: Optional[int] = None
        self.title = QLabel("Held-out photos, re-colorized as the training goes: grey | model | truth", self)
        self.title.setObjectName("sampleTitle")
        self.row = QHBoxLayout()
        self.row.addStretch(1)
        self.thumbnails: list[QLabel] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addLayout(self.row)

    def clear(self) -> None:
        for label in self.thumbnails:
            self.row.removeWidget(label)
            label.deleteLater()
        self.thumbnails = []
        self.step = None

    def show_samples(self, step: int, samples: list) -> None:
        self.clear()
        self.step = step
        for s in samples:
            parts = [array_to_image(a).scaled(self.TILE, self.TILE, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation)
                     for a in (s.grey, s.model, s.truth)]
            strip = QImage(sum(p.width() for p in parts) + 4, max(p.height() for p in parts),
                           QImage.Format.Format_RGB888)
            strip.fill(self.palette().window().color())
            painter = QPainter(strip)
            x = 0
            for part in parts:
                painter.drawImage(x, 0, part)
                x += part.width() + 2
            painter.end()
            label = QLabel(self)
            label.setObjectName("sampleThumbnail")
            label.setPixmap(QPixmap.fromImage(strip))
            label.setToolTip(f"{s.name} at step {step}: grey input | the model's colours | the original")
            self.row.insertWidget(self.row.count() - 1, label)
            self.thumbnails.append(label)
        self.title.setText(f"Held-out photos at step {step}: grey | model | truth")


class TrainDialog(JobDialog):
    """Choose the photos and the network, start, watch the loss and the samples, cancel."""

    models_changed = Signal(str)   # a training finished: model NAME is a new (or newer) engine
    job_done = Signal()            # the training thread ended (finished, stopped, failed or cancelled)
    SHUTDOWN_MS = 120000           # a training stops at its next step, which may be long on a CPU

    def __init__(self, parent=None):
        super().__init__(parent)
        from ..training.archs import architectures
        self.setObjectName("trainDialog")
        self.setWindowTitle("Train a colorizer")
        self.setWindowIcon(icon("mdi6.brain"))
        self.setModal(False)
        self.train_result = None
        #: TrainConfig fields the form does not show (seed, workers, the network's options...).
        self.extra_config: dict = {}

        intro = QLabel("Teach a network the colours of your own photos: give a folder of colour photos (a tenth "
                       "is held out to judge the result). The trained model becomes an engine you can choose for "
                       "its mode. Checkpoints are kept as it goes, so a stopped training can be resumed.", self)
        intro.setWordWrap(True)

        self.folder_edit = QLineEdit(self)
        self.folder_edit.setObjectName("folderEdit")
        self.folder_edit.setPlaceholderText("a folder of colour photos")
        self.folder_edit.textChanged.connect(self._update_buttons)
        self.browse_button = QPushButton(icon("mdi6.folder-open"), "Choose…", self)
        self.browse_button.setObjectName("browseButton")
        self.browse_button.clicked.connect(self.choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)

        self.arch_combo = QComboBox(self)
        self.arch_combo.setObjectName("archCombo")
        for name, arch in architectures().items():
            modes = ", ".join(str(m) for m in arch.modes)
            self.arch_combo.addItem(f"{name}: {arch.label}", name)
            self.arch_combo.setItemData(self.arch_combo.count() - 1, f"{arch.description}\nServes: {modes}",
                                        Qt.ItemDataRole.ToolTipRole)
        self.arch_combo.setCurrentIndex(max(0, self.arch_combo.findData("unet")))

        self.steps_radio = QRadioButton("Steps", self)
        self.steps_radio.setObjectName("stepsRadio")
        self.minutes_radio = QRadioButton("Minutes", self)
        self.minutes_radio.setObjectName("minutesRadio")
        self._length = QButtonGroup(self)
        self._length.addButton(self.steps_radio)
        self._length.addButton(self.minutes_radio)
        self.steps_radio.setChecked(True)
        self.steps_spin = QSpinBox(self)
        self.steps_spin.setObjectName("stepsSpin")
        self.steps_spin.setRange(1, 10_000_000)
        self.steps_spin.setValue(2000)
        self.steps_spin.setToolTip("Steps in all, counting those of a resumed training")
        self.minutes_spin = QDoubleSpinBox(self)
        self.minutes_spin.setObjectName("minutesSpin")
        self.minutes_spin.setRange(0.1, 100_000)
        self.minutes_spin.setValue(60)
        self.steps_radio.toggled.connect(self._update_buttons)
        length_row = QHBoxLayout()
        for w in (self.steps_radio, self.steps_spin, self.minutes_radio, self.minutes_spin):
            length_row.addWidget(w)
        length_row.addStretch(1)

        self.size_spin = QSpinBox(self)
        self.size_spin.setObjectName("sizeSpin")
        self.size_spin.setRange(16, 2048)
        self.size_spin.setSingleStep(16)
        self.size_spin.setValue(256)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("The side of the square crops the network learns from")
        self.batch_spin = QSpinBox(self)
        self.batch_spin.setObjectName("batchSpin")
        self.batch_spin.setRange(1, 1024)
        self.batch_spin.setValue(8)
        self.batch_spin.setToolTip("Crops per step (more needs more memory)")
        shape_row = QHBoxLayout()
        shape_row.addWidget(self.size_spin)
        shape_row.addWidget(QLabel("Batch:", self))
        shape_row.addWidget(self.batch_spin)
        shape_row.addStretch(1)

        # `colorstudio train --threads N`; 0 shows as "Auto", the command's default (no --threads):
        # the cores the data workers leave free.
        self.threads_spin = QSpinBox(self)
        self.threads_spin.setObjectName("threadsSpin")
        self.threads_spin.setRange(0, max(1, os.cpu_count() or 1))
        self.threads_spin.setSpecialValueText("Auto")
        self.threads_spin.setValue(0)
        self.threads_spin.setToolTip("CPU threads for the network. Auto: the cores the data loading leaves free; "
                                     "choose fewer when the computer is busy with other work")
        threads_row = QHBoxLayout()
        threads_row.addWidget(self.threads_spin)
        threads_row.addStretch(1)

        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setPlaceholderText("ARCH-FOLDERNAME")
        self.name_edit.setToolTip("The engine's name; the same name with Resume continues a training")
        self.resume_check = QCheckBox("Resume the training of this name from its last checkpoint", self)
        self.resume_check.setObjectName("resumeCheck")

        self.samples_steps_spin = QSpinBox(self)
        self.samples_steps_spin.setObjectName("samplesStepsSpin")
        self.samples_steps_spin.setRange(1, 1_000_000)
        self.samples_steps_spin.setValue(200)
        self.samples_minutes_spin = QDoubleSpinBox(self)
        self.samples_minutes_spin.setObjectName("samplesMinutesSpin")
        self.samples_minutes_spin.setRange(0.1, 1000)
        self.samples_minutes_spin.setValue(3)
        samples_row = QHBoxLayout()
        samples_row.addWidget(QLabel("every", self))
        samples_row.addWidget(self.samples_steps_spin)
        samples_row.addWidget(QLabel("steps or", self))
        samples_row.addWidget(self.samples_minutes_spin)
        samples_row.addWidget(QLabel("minutes", self))
        samples_row.addStretch(1)

        form = QFormLayout()
        form.addRow("Photos:", folder_row)
        form.addRow("Network:", self.arch_combo)
        form.addRow("Length:", length_row)
        form.addRow("Crop size:", shape_row)
        form.addRow("Threads:", threads_row)
        form.addRow("Name:", self.name_edit)
        form.addRow("", self.resume_check)
        form.addRow("Samples:", samples_row)
        self._form_widgets = (self.folder_edit, self.browse_button, self.arch_combo, self.steps_radio,
                              self.minutes_radio, self.steps_spin, self.minutes_spin, self.size_spin, self.batch_spin,
                              self.threads_spin, self.name_edit, self.resume_check, self.samples_steps_spin,
                              self.samples_minutes_spin)

        self.start_button = QPushButton(icon("mdi6.play"), "Start", self)
        self.start_button.setObjectName("startButton")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton(icon("mdi6.stop"), "Cancel", self)
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop after the current step; the last checkpoint is kept, so Resume "
                                      "continues from it")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("trainProgress")
        self.status_label = QLabel(self)
        self.status_label.setObjectName("trainStatus")
        run_row = QHBoxLayout()
        run_row.addWidget(self.start_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)

        self.plot = LossPlot(self)
        self.strip = SampleStrip(self)

        self.message = QLabel(self)
        self.message.setObjectName("trainMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addLayout(run_row)
        lay.addWidget(self.status_label)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.strip)
        lay.addWidget(self.message)
        lay.addWidget(buttons)
        self.resize(760, 720)
        self._update_buttons()

    # -- the form ---------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of colour photos",
                                                  self.folder_edit.text() or str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    def config(self):
        """The TrainConfig the form describes."""
        from ..training.loop import TrainConfig
        by_steps = self.steps_radio.isChecked()
        fields = dict(folder=self.folder_edit.text().strip(), arch=self.arch_combo.currentData(),
                      steps=self.steps_spin.value() if by_steps else None,
                      minutes=None if by_steps else self.minutes_spin.value(), size=self.size_spin.value(),
                      batch=self.batch_spin.value(), threads=self.threads_spin.value() or None,
                      name=self.name_edit.text().strip() or None,
                      resume=self.resume_check.isChecked(), samples_every=self.samples_steps_spin.value(),
                      samples_minutes=self.samples_minutes_spin.value())
        fields.update(self.extra_config)
        return TrainConfig(**fields)

    def _update_buttons(self, *_args) -> None:
        idle = self.job is None
        for w in self._form_widgets:
            w.setEnabled(idle)
        if idle:
            self.steps_spin.setEnabled(self.steps_radio.isChecked())
            self.minutes_spin.setEnabled(not self.steps_radio.isChecked())
        self.start_button.setEnabled(idle and bool(self.folder_edit.text().strip()))
        self.cancel_button.setEnabled(self.job is not None and not self.job.cancelling)

    # -- messages -----------------------------------------------------------------------------------
    def show_message(self, text: str, kind: str = "error") -> None:
        from .text import as_sentence
        text = as_sentence(text)
        self.message.setProperty("kind", kind)
        self.message.setStyleSheet("color: #d9534f;" if kind == "error" else "")
        self.message.setText(("\u26a0 " if kind == "error" else "") + text)
        self.message.setVisible(bool(text))

    @property
    def message_text(self) -> str:
        return self.message.text() if self.message.isVisible() else ""

    # -- the job ------------------------------------------------------------------------------------
    def start(self) -> Optional[Worker]:
        if self.job is not None:
            return None
        if not Path(self.folder_edit.text().strip()).expanduser().is_dir():
            self.show_message(f"the folder {self.folder_edit.text().strip()!r} does not exist")
            return None
        config = self.config()
        self.message.hide()
        self.train_result = None
        self.plot.clear()
        self.strip.clear()
        from ..training.job import TrainJob
        job = self.job = Worker(TrainJob(config), name="trainJob").on(
            noted=self._noted, succeeded=self._succeeded, failed=self._failed, cancelled=self._cancelled,
            finished=self._job_finished)
        self.progress.setRange(0, 0)   # busy while the folder is read
        self.status_label.setText("Reading the photos…")
        self._update_buttons()
        job.start()
        return job

    def cancel(self) -> None:
        if self.job is not None and not self.job.cancelling:
            self.job.cancel()
            self.status_label.setText("Stopping after the current step (the last checkpoint is kept)…")
            self._update_buttons()

    @Slot(object)
    def _noted(self, note) -> None:
        from ..training.job import Samples, Steps
        if isinstance(note, Steps):
            self._progressed(note)
        elif isinstance(note, Samples):
            self._sampled(note.step, note.samples)

    def _progressed(self, info) -> None:
        self.plot.add_points(info.points)
        if self.job is not None and self.job.cancelling:
            return
        step, total = info.step, info.total
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(min(int(step), int(total)))
            self.progress.setFormat(f"step {step} of {total}")
        else:
            self.progress.setRange(0, 0)
        if info.history:
            self.status_label.setText(f"Resuming at step {step}…")
            return
        eta = info.eta
        rate = info.rate or 0.0
        loss = info.points[-1][1] if info.points else float("nan")
        left = f", about {_duration(eta)} left" if eta is not None else ""
        self.status_label.setText(f"Step {step}: loss {loss:.4f}, {rate:.2f} steps a second{left}")

    def _sampled(self, step: int, samples: list) -> None:
        self.strip.show_samples(step, samples)

    @Slot(object)
    def _succeeded(self, result) -> None:
        self.train_result = result
        if result.finished:
            from ..training.archs import get_architecture
            names = {"auto": "Automatic", "hints": "Hints", "reference": "Reference & style"}
            modes = " and ".join(f"the {names.get(str(m), str(m))} mode"
                                 for m in get_architecture(self.config_arch(result)).modes)
            self.status_label.setText(f"Finished at step {result.step}.")
            self.show_message(f"Trained {result.name} ({result.step} steps). It is now an engine: choose it in the "
                              f"engine list of {modes}.", "info")
            self.models_changed.emit(result.name)
        else:
            self.status_label.setText(f"Stopped at step {result.step}.")
            self.show_message(f"Stopped at step {result.step}; the last checkpoint is kept. To continue, give the "
                              f"name {result.name}, tick Resume and Start.", "info")
            self.name_edit.setText(result.name)

    def config_arch(self, result) -> str:
        manifest = result.manifest or {}
        return manifest.get("architecture") or self.arch_combo.currentData()

    @Slot(str)
    def _failed(self, text: str) -> None:
        self.status_label.setText("")
        self.show_message(text, "error")

    @Slot()
    def _cancelled(self) -> None:
        self.status_label.setText("")
        self.show_message("The training was cancelled before its first step; nothing was written.", "info")

    @Slot()
    def _job_finished(self) -> None:
        self.job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.train_result is not None and self.train_result.finished else 0)
        self._update_buttons()
        self.job_done.emit()
        self._close_if_asked()


def _duration(seconds: Optional[float]) -> str:
    from ..training.cli import _duration as duration
    return duration(seconds)


def show_train_dialog(window) -> TrainDialog:
    """Open the window's Train dialog (one at a time) or bring it forward; a finished training
    refreshes the engines as an installed model does."""
    dlg = getattr(window, "train_dialog", None)
    if dlg is None:
        dlg = window.train_dialog = TrainDialog(window)
        dlg.models_changed.connect(window.models._models_changed)

        def closed(*_args):
            d, window.train_dialog = window.train_dialog, None
            if d is not None:
                d.deleteLater()

        dlg.finished.connect(closed)
    else:
        dlg.reopen()
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg


def shutdown_train_dialog(window) -> None:
    """The window is closing: a training in progress stops after its step (checkpoint kept)."""
    dlg = getattr(window, "train_dialog", None)
    if dlg is not None:
        dlg.shutdown()
