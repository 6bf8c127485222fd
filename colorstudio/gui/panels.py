"""The side panel: mode (Automatic, Hints, Reference & style), engine and device, colour strength.

Each mode is a :class:`ModePage` widget registered in :data:`MODE_PAGES`; the panel shows the
page of the document's mode. Adding a mode's controls is adding a page class, not editing
the main window. A mode whose engine cannot run here says so and offers what to do.
"""
from __future__ import annotations

import itertools
from typing import Optional

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
                               QSlider, QToolButton, QVBoxLayout, QWidget)

from ..core.color import color_to_hex
from ..core.document import Document, MODE_LABELS
from ..engines.registry import ENGINES
from .availability import Availability, engine_availability, engines_for_mode, mode_availability
from .icons import icon
from .palette import section_title

DEVICE_LABELS = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA", "mps": "MPS"}


class Notice(QFrame):
    """A mode that cannot run says why and what to do, instead of failing silently."""

    models_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modeNotice")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.icon = QLabel(self)
        self.icon.setPixmap(icon("mdi6.information").pixmap(20, 20))
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton(icon("mdi6.package-down"), "Manage models…", self)
        self.button.setToolTip("Install or import the neural models this mode needs")
        self.button.clicked.connect(self.models_requested)
        row = QHBoxLayout()
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.text, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignRight)
        self.hide()

    def show_for(self, availability: Availability, advice: Optional[str] = None) -> None:
        """Show why the mode (or its chosen engine) cannot run, and what to do; hide when it can."""
        if availability.ok:
            self.hide()
            return
        what = advice or ("Install a model with the model manager, or switch to the Hints mode, which needs none."
                          if availability.needs_models else "Use the Hints mode meanwhile.")
        from .text import as_sentence
        self.text.setText(f"{as_sentence(availability.reason)}. {what}")
        self.button.setVisible(availability.needs_models)
        self.show()


class ModePage(QWidget):
    """One mode's controls. Subclasses set ``mode``, ``title``, ``icon_name`` and ``blurb``."""

    mode = ""
    title = ""
    icon_name = ""
    blurb = ""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName(f"modePage_{self.mode}")
        self.notice = Notice(self)
        self.description = QLabel(self.blurb, self)
        self.description.setWordWrap(True)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.addWidget(self.notice)
        self.body.addWidget(self.description)

    def refresh(self, document: Document) -> None:
        """Bring the page up to date with the document (called on every document change)."""
        available = mode_availability(self.mode)
        if available.ok and document.mode == self.mode:
            # The mode can run, but perhaps not with the engine chosen for it.
            chosen = engine_availability(document.engine)
            if not chosen.ok:
                advice = ("Install it with the model manager, or choose another engine above."
                          if chosen.needs_models else "Choose another engine above.")
                self.notice.show_for(chosen, advice)
                return
        self.notice.show_for(available)


class AutomaticPage(ModePage):
    mode = "auto"
    title = MODE_LABELS["auto"]
    icon_name = "mdi6.auto-fix"
    blurb = "A neural network colours the whole photo by itself. Add colour points to correct it where it guessed wrong."


class HintsPage(ModePage):
    mode = "hints"
    title = MODE_LABELS["hints"]
    icon_name = "mdi6.eyedropper-plus"
    blurb = ("Click the photo to place colour points (P) or paint strokes (B); the colour spreads up to the "
             "edges around it. Drag a point to move it, right-click to remove it.")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.counts = QLabel(self)
        self.counts.setObjectName("hintCounts")
        self.body.addWidget(self.counts)

    def refresh(self, document: Document) -> None:
        super().refresh(document)
        n, m = len(document.hints.points), len(document.hints.strokes)
        self.counts.setText(f"{n} colour point{'s' * (n != 1)}, {m} stroke{'s' * (m != 1)}")


class ReferenceView(QLabel):
    """A thumbnail of the reference photo; clicking it picks its colour (the eyedropper's source)."""

    color_picked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("referenceView")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Click to take a colour from the reference photo")
        self._image: Optional[QImage] = None

    def set_image(self, image: Optional[QImage]) -> None:
        self._image = image
        if image is None or image.isNull():
            self.clear()
            self.setText("No reference photo")
            return
        self.setPixmap(QPixmap.fromImage(image.scaled(260, 200, Qt.AspectRatioMode.KeepAspectRatio,
                                                      Qt.TransformationMode.SmoothTransformation)))

    def color_at(self, pos: QPointF) -> Optional[str]:
        pm = self.pixmap()
        if self._image is None or pm is None or pm.isNull():
            return None
        x0 = (self.width() - pm.width()) / 2
        y0 = (self.height() - pm.height()) / 2
        u, v = (pos.x() - x0) / pm.width(), (pos.y() - y0) / pm.height()
        if not (0 <= u < 1 and 0 <= v < 1):
            return None
        c = self._image.pixelColor(int(u * self._image.width()), int(v * self._image.height()))
        return color_to_hex((c.red(), c.green(), c.blue()))

    def mousePressEvent(self, e) -> None:
        color = self.color_at(e.position())
        if color is not None:
            self.color_picked.emit(color)


class ReferencePage(ModePage):
    mode = "reference"
    title = MODE_LABELS["reference"]
    icon_name = "mdi6.image-multiple"
    blurb = ("Colours come from a reference photo you choose. Load one to pick colours from it; the matching "
             "engines fill the photo from it once they are installed.")

    reference_requested = Signal()
    reference_cleared = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = ReferenceView(self)
        self.load_button = QPushButton(icon("mdi6.image-plus"), "Load reference…", self)
        self.load_button.setToolTip("Choose a colour photo to take colours from")
        self.load_button.clicked.connect(self.reference_requested)
        self.clear_button = QPushButton(icon("mdi6.close"), "Remove", self)
        self.clear_button.setToolTip("Stop using the reference photo")
        self.clear_button.clicked.connect(self.reference_cleared)
        row = QHBoxLayout()
        row.addWidget(self.load_button)
        row.addWidget(self.clear_button)
        self.body.addWidget(self.view)
        self.body.addLayout(row)
        self._shown: Optional[str] = "\0"

    def refresh(self, document: Document) -> None:
        super().refresh(document)
        if document.reference != self._shown:
            self._shown = document.reference
            img = QImage(document.reference) if document.reference else None
            self.view.set_image(img)
            if document.reference and (img is None or img.isNull()):
                self.view.setText("The reference photo could not be read")
        self.clear_button.setEnabled(bool(document.reference))


MODE_PAGES: list[type[ModePage]] = [AutomaticPage, HintsPage, ReferencePage]


def register_mode_page(cls: type[ModePage]) -> type[ModePage]:
    """Add (or replace) the page for ``cls.mode``; usable as a class decorator."""
    for i, existing in enumerate(MODE_PAGES):
        if existing.mode == cls.mode:
            MODE_PAGES[i] = cls
            return cls
    MODE_PAGES.append(cls)
    return cls


class DeviceCombo(QComboBox):
    """The device list; opening it asks which devices exist (that imports torch, so only then)."""

    about_to_open = Signal()

    def showPopup(self) -> None:
        self.about_to_open.emit()
        super().showPopup()


class PageStack(QWidget):
    """Pages of which only the current one is shown, sized to that page alone.

    (A QStackedWidget is as tall as its tallest page, leaving a gap under short ones.)
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pages: list[QWidget] = []
        self._current: Optional[QWidget] = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def addWidget(self, w: QWidget) -> int:
        self._pages.append(w)
        self._layout.addWidget(w)
        if self._current is None:
            self._current = w
        else:
            w.hide()
        return len(self._pages) - 1

    def count(self) -> int:
        return len(self._pages)

    def widget(self, i: int) -> QWidget:
        return self._pages[i]

    def currentWidget(self) -> Optional[QWidget]:
        return self._current

    def setCurrentWidget(self, w: QWidget) -> None:
        if w is self._current:
            return
        for page in self._pages:
            page.setVisible(page is w)
        self._current = w


class ModePanel(QWidget):
    """Mode buttons, engine and device choice, and the current mode's page."""

    mode_requested = Signal(str)
    engine_requested = Signal(str)
    device_requested = Signal(str)
    models_requested = Signal(str)   # the mode that needs them

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modePanel")
        self._document = Document()
        self._updating = False
        self.buttons: dict[str, QToolButton] = {}
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.pages: dict[str, ModePage] = {}
        self.stack = PageStack(self)

        row = QHBoxLayout()
        row.setSpacing(2)
        for i, cls in enumerate(MODE_PAGES):
            page = cls(self.stack)
            page.body.addStretch(1)
            self.pages[cls.mode] = page
            self.stack.addWidget(page)
            page.notice.models_requested.connect(lambda m=cls.mode: self.models_requested.emit(m))
            b = QToolButton(self)
            b.setObjectName(f"modeButton_{cls.mode}")
            b.setText(cls.title.replace("&", "&&"))
            b.setIcon(icon(cls.icon_name))
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setCheckable(True)
            b.setAutoRaise(False)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setToolTip(f"{cls.title} mode (Alt+{i + 1}): {cls.blurb}")
            b.clicked.connect(lambda _=False, m=cls.mode: self._mode_clicked(m))
            self.group.addButton(b)
            self.buttons[cls.mode] = b
            row.addWidget(b)

        self.engine_combo = QComboBox(self)
        self.engine_combo.setObjectName("engineCombo")
        self.engine_combo.setToolTip("The engine that colours the photo in this mode")
        self.engine_combo.currentIndexChanged.connect(self._engine_chosen)
        self.device_combo = DeviceCombo(self)
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setToolTip("Where neural engines run: Auto picks a GPU when there is one")
        self.device_combo.currentIndexChanged.connect(self._device_chosen)
        self.set_devices(["cpu"], "auto")

        form = QHBoxLayout()
        form.addWidget(QLabel("Engine", self))
        form.addWidget(self.engine_combo, 1)
        form2 = QHBoxLayout()
        form2.addWidget(QLabel("Device", self))
        form2.addWidget(self.device_combo, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(section_title("Mode", self))
        lay.addLayout(row)
        lay.addLayout(form)
        lay.addLayout(form2)
        lay.addWidget(self.stack)
        self.set_document(self._document)

    def page(self, mode: str) -> ModePage:
        return self.pages[mode]

    def set_document(self, document: Document, force: bool = False) -> None:
        """Show ``document``'s mode, engine and settings. Hint edits (a drag's every step)
        change nothing shown here, so they cost nothing; ``force`` re-reads which engines
        can run (after a model changed)."""
        key = (document.mode, document.engine, document.references, document.saturation, document.strength,
               document.look, document.options)
        if not force and key == getattr(self, "_shown_key", None):
            self._document = document
            return
        self._shown_key = key
        self._document = document
        self._updating = True
        try:
            if document.mode in self.buttons:
                self.buttons[document.mode].setChecked(True)
                self.stack.setCurrentWidget(self.pages[document.mode])
            self.engine_combo.clear()
            for name in engines_for_mode(document.mode):
                info = ENGINES[name]
                av = engine_availability(name)
                self.engine_combo.addItem(info.label + ("" if av.ok else " (not installed)"), name)
                item = self.engine_combo.model().item(self.engine_combo.count() - 1)
                if not av.ok and item is not None:
                    item.setToolTip(av.reason)
            idx = self.engine_combo.findData(document.engine)
            self.engine_combo.setCurrentIndex(max(idx, 0))
            self.engine_combo.setEnabled(self.engine_combo.count() > 1)
        finally:
            self._updating = False
        for page in self.pages.values():
            page.refresh(document)

    def set_devices(self, devices: list[str], current: str) -> None:
        self._updating = True
        try:
            self.device_combo.clear()
            for d in ["auto"] + [d for d in devices if d != "auto"]:
                self.device_combo.addItem(DEVICE_LABELS.get(d, d.upper()), d)
            self.device_combo.setCurrentIndex(max(self.device_combo.findData(current), 0))
        finally:
            self._updating = False

    def _mode_clicked(self, mode: str) -> None:
        if mode != self._document.mode:
            self.mode_requested.emit(mode)

    def _engine_chosen(self, index: int) -> None:
        if self._updating or index < 0:
            return
        name = self.engine_combo.itemData(index)
        if name and name != self._document.engine:
            self.engine_requested.emit(name)

    def _device_chosen(self, index: int) -> None:
        if self._updating or index < 0:
            return
        self.device_requested.emit(self.device_combo.itemData(index))


class ColorStrength(QWidget):
    """The global colour strength (saturation) slider, 0 to 200 %."""

    strength_changed = Signal(float, object)   # value, merge token (one per slider drag)
    dragging = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("colorStrength")
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("saturationSlider")
        self.slider.setRange(0, 200)
        self.slider.setValue(100)
        self.slider.setToolTip("How vivid the colours are: 100 % is as the engine made them")
        self.value_label = QLabel("100 %", self)
        self.value_label.setMinimumWidth(44)
        self._tokens = itertools.count(1)
        self._token = None
        self._updating = False
        self.slider.sliderPressed.connect(self._pressed)
        self.slider.sliderReleased.connect(self._released)
        self.slider.valueChanged.connect(self._changed)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lbl = QLabel(self)
        lbl.setPixmap(icon("mdi6.contrast-box").pixmap(16, 16))
        lay.addWidget(lbl)
        lay.addWidget(QLabel("Colour strength", self))
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.value_label)

    def set_value(self, saturation: float) -> None:
        self._updating = True
        try:
            self.slider.setValue(round(saturation * 100))
            self.value_label.setText(f"{round(saturation * 100)} %")
        finally:
            self._updating = False

    def _pressed(self) -> None:
        self._token = next(self._tokens)
        self.dragging.emit(True)

    def _released(self) -> None:
        self._token = None
        self.dragging.emit(False)

    def _changed(self, v: int) -> None:
        self.value_label.setText(f"{v} %")
        if not self._updating:
            self.strength_changed.emit(v / 100.0, self._token)

