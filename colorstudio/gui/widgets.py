"""Small widgets: the message bar and the welcome page of an empty window."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton,
                               QStatusBar, QToolButton, QVBoxLayout, QWidget)

from .icons import icon


class MessageBar(QFrame):
    """A dismissable line above the canvas: each distinct message appears once, never a pile of dialogs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.last_text = ""
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.icon = QLabel(self)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setIcon(icon("mdi6.close"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss (Esc)")
        close.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.icon)
        lay.addWidget(self.text, 1)
        lay.addWidget(close)
        self.hide()

    @property
    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""

    def show_message(self, text: str, kind: str = "error") -> bool:
        """Show ``text`` unless it is already showing; returns whether it is new."""
        from .text import as_sentence
        self.last_text = text  # as written, for the command line (gui --screenshot)
        text = as_sentence(text)
        if self.isVisible() and self.text.text() == text:
            return False
        self.icon.setPixmap(icon("mdi6.alert" if kind == "error" else "mdi6.information").pixmap(18, 18))
        self.text.setText(text)
        self.show()
        return True

    def dismiss(self) -> None:
        self.hide()


class WelcomePage(QWidget):
    """What an empty window shows: drop a photo, open one, a recent one, or the sample; which
    engines are ready and which a model install would add, one click from the Models dialog."""

    open_requested = Signal()
    sample_requested = Signal()
    recent_requested = Signal(str)
    models_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("welcomePage")
        title = QLabel("Colorstudio", self)
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 2)
        f.setBold(True)
        title.setFont(f)
        pic = QLabel(self)
        pic.setPixmap(icon("mdi6.image-plus").pixmap(72, 72))
        hint = QLabel("Drop a black-and-white photo here, or open one.", self)
        open_btn = QPushButton(icon("mdi6.folder-open"), "Open photo…", self)
        open_btn.setToolTip("Open a photo (Ctrl+O)")
        open_btn.clicked.connect(self.open_requested)
        self.sample_btn = QPushButton(icon("mdi6.face-woman-profile"), "Open the sample photo", self)
        self.sample_btn.setToolTip("Try Colorstudio on the portrait that comes with it")
        self.sample_btn.clicked.connect(self.sample_requested)
        self.engines = QLabel(self)
        self.engines.setObjectName("welcomeEngines")
        self.engines.setTextFormat(Qt.TextFormat.PlainText)
        # Wrapped at a fixed width: a long list of engines must not widen the window.
        self.engines.setWordWrap(True)
        self.engines.setFixedWidth(440)
        self.engines.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.models_btn = QPushButton(icon("mdi6.package-variant"), "Models…", self)
        self.models_btn.setObjectName("welcomeModels")
        self.models_btn.setToolTip("Install or import the neural models")
        self.models_btn.clicked.connect(self.models_requested)
        self.recent_title = QLabel("Recent photos", self)
        self.recent = QListWidget(self)
        self.recent.setObjectName("recentList")
        self.recent.setMaximumWidth(480)
        self.recent.setMaximumHeight(160)
        # One click opens (a double click would otherwise open the photo twice).
        self.recent.itemClicked.connect(self._recent_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(open_btn)
        buttons.addWidget(self.sample_btn)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addStretch(2)
        for w in (pic, title, hint):
            lay.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addLayout(buttons)
        lay.addSpacing(12)
        lay.addWidget(self.engines, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.models_btn, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addSpacing(16)
        lay.addWidget(self.recent_title, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.recent, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(3)

    def _recent_clicked(self, item) -> None:
        self.recent_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        for p in paths:
            item = QListWidgetItem(icon("mdi6.file-image"), Path(p).name)
            item.setToolTip(p)
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.recent.addItem(item)
        self.recent.setVisible(bool(paths))
        self.recent_title.setVisible(bool(paths))

    def set_sample_available(self, available: bool) -> None:
        self.sample_btn.setVisible(available)

    def set_engines(self, engines) -> None:
        """Show which engines are ready and which can be installed (``EngineReadiness`` rows)."""
        ready = [e.label for e in engines if e.ready]
        more = [e.label for e in engines if e.installable]
        text = "Ready now, no download needed: " + (", ".join(ready) if ready else "none") + "."
        if more:
            text += "\nCan be installed: " + ", ".join(more) + "."
        self.engines.setText(text)
        # A wrapped label centred in a layout gets its one-line height; ask for what it needs.
        self.engines.setMinimumHeight(self.engines.heightForWidth(self.engines.width()))
        self.models_btn.setText("Install models…" if more else "Models…")


class StatusArea:
    """The permanent right-hand side of the status bar: busy, export progress, zoom, engine."""

    def __init__(self, bar: QStatusBar):
        self.busy = QProgressBar()
        self.busy.setObjectName("busyIndicator")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setMaximumHeight(14)
        self.busy.setToolTip("Colouring…")
        self.busy.hide()
        self.export_progress = QProgressBar()
        self.export_progress.setObjectName("exportProgress")
        self.export_progress.setMaximumWidth(160)
        self.export_progress.setFormat("Exporting %p %")
        self.export_progress.hide()
        self.export_cancel = QToolButton()
        self.export_cancel.setIcon(icon("mdi6.cancel"))
        self.export_cancel.setToolTip("Cancel the export")
        self.export_cancel.setAutoRaise(True)
        self.export_cancel.hide()
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("zoomLabel")
        self.engine = QLabel()
        self.engine.setObjectName("statusEngine")
        self.engine.setToolTip("Engine, device and the time the last colorization took")
        for w in (self.busy, self.export_progress, self.export_cancel, self.zoom_label, self.engine):
            bar.addPermanentWidget(w)

    def show_export(self, shown: bool) -> None:
        if shown:
            self.export_progress.setValue(0)
        self.export_progress.setVisible(shown)
        self.export_cancel.setVisible(shown)

    def export_step(self, done: int, total: int) -> None:
        self.export_progress.setMaximum(max(total, 1))
        self.export_progress.setValue(done)
