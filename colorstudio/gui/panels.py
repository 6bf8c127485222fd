"""The side panel: mode (Automatic, Hints, Reference & style), engine and device, colour strength.

Each mode is a :class:`ModePage` widget registered in :data:`MODE_PAGES`; the panel shows the
page of the document's mode. Adding a mode's controls is adding a page class, not editing
the main window. A mode whose engine cannot run here says so and offers what to do.
"""
from __future__ import annotations

import itertools
from typing import Optional

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QRadioButton,
                               QSizePolicy, QSlider, QToolButton, QVBoxLayout, QWidget)

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
    modes: tuple = ()     # the modes this page serves (default: its own)
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
        mode = document.mode if document.mode in (self.modes or (self.mode,)) else self.mode
        available = mode_availability(mode)
        if available.ok and document.mode == mode:
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
             "edges around it. Paint with the protect brush (N) where no colour may go.")

    #: The engine setting the edge slider edits (declared by the propagation engine).
    EDGE = "edge_strength"

    option_changed = Signal(str, float, object)   # name, value, merge token (one per slider drag)
    dragging = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.counts = QLabel(self)
        self.counts.setObjectName("hintCounts")
        self.body.addWidget(self.counts)
        self.edge_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.edge_slider.setObjectName("edgeStrengthSlider")
        self.edge_slider.setRange(0, 100)
        self.edge_value = QLabel(self)
        self.edge_value.setMinimumWidth(36)
        self._edge_tokens = itertools.count(1)
        self._edge_token = None
        self._updating = False
        self.edge_slider.sliderPressed.connect(self._edge_pressed)
        self.edge_slider.sliderReleased.connect(self._edge_released)
        self.edge_slider.valueChanged.connect(self._edge_moved)
        row = QHBoxLayout()
        self.edge_label = QLabel("Edges stop colour", self)
        row.addWidget(self.edge_label)
        row.addWidget(self.edge_slider, 1)
        row.addWidget(self.edge_value)
        self.body.addLayout(row)

    def refresh(self, document: Document) -> None:
        super().refresh(document)
        self.show_counts(document)
        spec = ENGINES.get(document.engine)
        option = next((o for o in (spec.options if spec else ()) if o.name == self.EDGE), None)
        value = dict(document.options).get(self.EDGE, option.default if option else None)
        self._updating = True
        try:
            for w in (self.edge_slider, self.edge_label, self.edge_value):
                w.setEnabled(option is not None)
            self.edge_slider.setToolTip(option.help[:1].upper() + option.help[1:] if option else
                                        "This engine has no edge setting")
            if value is not None:
                self.edge_slider.setValue(round(float(value) * 100))
                self.edge_value.setText(f"{round(float(value) * 100)} %")
        finally:
            self._updating = False

    def show_counts(self, document: Document) -> None:
        h = document.hints
        n, q = len(h.points), len(h.protected)
        m = len(h.strokes) - q
        text = f"{n} colour point{'s' * (n != 1)}, {m} stroke{'s' * (m != 1)}"
        self.counts.setText(text + (f", {q} protected" if q else ""))

    def _edge_pressed(self) -> None:
        self._edge_token = next(self._edge_tokens)
        self.dragging.emit(True)

    def _edge_released(self) -> None:
        self._edge_token = None
        self.dragging.emit(False)

    def _edge_moved(self, v: int) -> None:
        self.edge_value.setText(f"{v} %")
        if not self._updating:
            self.option_changed.emit(self.EDGE, v / 100.0, self._edge_token)


class ReferenceView(QLabel):
    """The reference picture's thumbnail. A click takes its colour (for hints); a drag marks
    a region to take colours from (shown as a frame); a double-click uses all of it again."""

    color_picked = Signal(str)
    region_chosen = Signal(object)     # (x0, y0, x1, y1) in the decoded picture's pixels, or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("referenceView")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Click to take a colour from the reference; drag to use only a region of it; "
                        "double-click to use all of it")
        self._image: Optional[QImage] = None
        self._decoded: tuple = (0, 0)
        self._region: Optional[tuple] = None      # in decoded pixels
        self._press: Optional[QPointF] = None
        self._drag: Optional[QPointF] = None
        self.setText("No reference picture")

    def set_thumbnail(self, rgb: Optional[np.ndarray], decoded_size: tuple = (0, 0)) -> None:
        if rgb is None:
            self._image = None
            self.clear()
            self.setText("No reference picture")
            return
        h, w = rgb.shape[:2]
        self._image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self._decoded = tuple(decoded_size)
        self.setPixmap(QPixmap.fromImage(self._image.scaled(280, 220, Qt.AspectRatioMode.KeepAspectRatio,
                                                            Qt.TransformationMode.SmoothTransformation)))

    def set_region(self, rect: Optional[tuple]) -> None:
        self._region = tuple(rect) if rect else None
        self.update()

    def _frame(self) -> Optional[tuple]:
        pm = self.pixmap()
        if self._image is None or pm is None or pm.isNull():
            return None
        return (self.width() - pm.width()) / 2, (self.height() - pm.height()) / 2, pm.width(), pm.height()

    def to_picture(self, pos: QPointF) -> Optional[tuple]:
        """(u, v) in 0..1 over the picture for a widget position, or None outside it."""
        f = self._frame()
        if f is None:
            return None
        x0, y0, pw, ph = f
        u, v = (pos.x() - x0) / pw, (pos.y() - y0) / ph
        return (u, v) if 0 <= u < 1 and 0 <= v < 1 else None

    def color_at(self, pos: QPointF) -> Optional[str]:
        uv = self.to_picture(pos)
        if uv is None:
            return None
        c = self._image.pixelColor(int(uv[0] * self._image.width()), int(uv[1] * self._image.height()))
        return color_to_hex((c.red(), c.green(), c.blue()))

    def mousePressEvent(self, e) -> None:
        self._press = e.position()
        self._drag = None

    def mouseMoveEvent(self, e) -> None:
        if self._press is not None and (e.position() - self._press).manhattanLength() > 4:
            self._drag = e.position()
            self.update()

    def mouseReleaseEvent(self, e) -> None:
        press, drag, self._press, self._drag = self._press, self._drag, None, None
        if press is None:
            return
        if drag is None:
            color = self.color_at(press)
            if color is not None:
                self.color_picked.emit(color)
            return
        a, b = self._clamped(press), self._clamped(e.position())
        if a is None or b is None:
            self.update()
            return
        W, H = self._decoded
        x0, x1 = sorted((a[0] * W, b[0] * W))
        y0, y1 = sorted((a[1] * H, b[1] * H))
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            self.region_chosen.emit((int(x0), int(y0), int(round(x1)), int(round(y1))))
        self.update()

    def mouseDoubleClickEvent(self, e) -> None:
        self.region_chosen.emit(None)

    def _clamped(self, pos: QPointF) -> Optional[tuple]:
        f = self._frame()
        if f is None:
            return None
        x0, y0, pw, ph = f
        return min(max((pos.x() - x0) / pw, 0.0), 1.0), min(max((pos.y() - y0) / ph, 0.0), 1.0)

    def paintEvent(self, e) -> None:
        super().paintEvent(e)
        f = self._frame()
        if f is None:
            return
        x0, y0, pw, ph = f
        rect = None
        if self._press is not None and self._drag is not None:
            a, b = self._clamped(self._press), self._clamped(self._drag)
            rect = (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))
        elif self._region is not None and all(self._decoded):
            W, H = self._decoded
            r = self._region
            rect = (r[0] / W, r[1] / H, r[2] / W, r[3] / H)
        if rect is None:
            return
        p = QPainter(self)
        pen = QPen(QColor(255, 255, 255), 2)
        p.setPen(pen)
        p.drawRect(QRectF(x0 + rect[0] * pw, y0 + rect[1] * ph, (rect[2] - rect[0]) * pw, (rect[3] - rect[1]) * ph))
        pen.setColor(QColor(0, 0, 0))
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawRect(QRectF(x0 + rect[0] * pw, y0 + rect[1] * ph, (rect[2] - rect[0]) * pw, (rect[3] - rect[1]) * ph))
        p.end()


#: The methods of the Reference & style page, each a mode.
REFERENCE_METHODS = (("reference", "Reference colours", "The photo takes the colours of like regions of "
                      "the reference; your hints win where you place them."),
                     ("palette", "Palette", "A colour photo takes the reference's palette; the photo's own "
                      "tones are kept."),
                     ("style", "Style", "A painting's colour and brushwork on the photo."))


class ReferencePage(ModePage):
    """Reference colours, palette transfer and style: one page, the method picks the mode."""

    mode = "reference"
    modes = ("reference", "palette", "style")
    title = "Reference & style"
    icon_name = "mdi6.image-multiple"
    blurb = ("Colour the photo from a reference picture, give it another picture's palette, or a "
             "painting's style. Open a picture, drop one here, or paste one.")

    last_mode = None

    reference_requested = Signal()
    reference_cleared = Signal()
    reference_dropped = Signal(str)          # a file dropped or pasted
    method_requested = Signal(str)           # the mode of the chosen method
    strength_changed = Signal(float, object)  # value, merge token (one per slider drag)
    dragging = Signal(bool)
    look_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.method_combo = QComboBox(self)
        self.method_combo.setObjectName("referenceMethod")
        for mode, label, tip in REFERENCE_METHODS:
            self.method_combo.addItem(label, mode)
            self.method_combo.setItemData(self.method_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.method_combo.currentIndexChanged.connect(self._method_chosen)
        self.view = ReferenceView(self)
        self.load_button = QPushButton(icon("mdi6.image-plus"), "Open…", self)
        self.load_button.setObjectName("referenceOpen")
        self.load_button.setToolTip("Choose a reference picture (a colour photo, a postcard, a painting)")
        self.load_button.clicked.connect(self.reference_requested)
        self.paste_button = QPushButton(icon("mdi6.content-paste"), "Paste", self)
        self.paste_button.setToolTip("Use the picture or file on the clipboard")
        self.paste_button.clicked.connect(self.paste)
        self.clear_button = QPushButton(icon("mdi6.close"), "Remove", self)
        self.clear_button.setToolTip("Stop using the reference picture")
        self.clear_button.clicked.connect(self.reference_cleared)
        self.name_label = QLabel(self)
        self.name_label.setObjectName("referenceName")
        self.name_label.setWordWrap(True)
        self.strength_slider = PercentSlider("Strength", "referenceStrength", 100,
                                             "How much of the reference or style: none (0) to all of it (100 %)",
                                             parent=self)
        self.strength = self.strength_slider.slider
        self.strength_slider.strength_changed.connect(self.strength_changed)
        self.strength_slider.dragging.connect(self.dragging)
        self._updating = False
        self.tones = QRadioButton("Keep the photo's tones", self)
        self.tones.setObjectName("lookTones")
        self.tones.setToolTip("Colour and texture on the photo's own lightness, as everywhere else")
        self.painting = QRadioButton("Full painting (changes the photo's tones)", self)
        self.painting.setObjectName("lookPainting")
        self.painting.setToolTip("The painting's own lightness too: the one look that changes the photo's tones; "
                                 "exports record it")
        self.tones.setChecked(True)
        self.tones.toggled.connect(lambda on: on and not self._updating and self.look_requested.emit("tones"))
        self.painting.toggled.connect(lambda on: on and not self._updating and self.look_requested.emit("painting"))
        method_row = QHBoxLayout()
        method_row.addWidget(QLabel("Method", self))
        method_row.addWidget(self.method_combo, 1)
        buttons = QHBoxLayout()
        for b in (self.load_button, self.paste_button, self.clear_button):
            buttons.addWidget(b)
        self.body.addLayout(method_row)
        self.body.addWidget(self.view)
        self.body.addWidget(self.name_label)
        self.body.addLayout(buttons)
        self.body.addWidget(self.strength_slider)
        self.body.addWidget(self.tones)
        self.body.addWidget(self.painting)
        self._shown: tuple = ("\0",)

    # -- from the document ---------------------------------------------------------------
    def refresh(self, document: Document) -> None:
        super().refresh(document)
        if document.mode in self.modes:
            self.last_mode = document.mode
        self._updating = True
        try:
            idx = self.method_combo.findData(document.mode)
            if idx >= 0:
                self.method_combo.setCurrentIndex(idx)
            self.strength_slider.set_value(document.strength)
            (self.painting if document.look == "painting" else self.tones).setChecked(True)
            is_style = document.mode == "style"
            self.tones.setVisible(is_style)
            self.painting.setVisible(is_style)
        finally:
            self._updating = False
        refs = document.references
        self.view.set_region(refs[0].rect if refs else None)
        self.clear_button.setEnabled(bool(refs))
        key = (refs[0].path if refs else None,)
        if key != self._shown:
            self._shown = key
            if not refs:
                self.view.set_thumbnail(None)
                self.name_label.setText("")
            else:
                self.view.clear()
                self.view.setText("Opening the reference\u2026")
                self.name_label.setText(Path(refs[0].path).name)

    def show_thumbnail(self, thumb) -> None:
        """A decoded thumbnail arrived (from the compute thread)."""
        if self._shown != (thumb.path,) and Path(self._shown[0] or "") != Path(thumb.path):
            return   # a reference since replaced
        self.view.set_thumbnail(thumb.rgb, thumb.decoded_size)
        w, h = thumb.decoded_size
        grey = "" if thumb.was_color else " \u2014 grey: no colours to take"
        self.name_label.setText(f"{Path(thumb.path).name} ({w}\u00d7{h}){grey}")

    def show_problem(self, path: str, message: str) -> None:
        self.view.set_thumbnail(None)
        self.view.setText("The reference could not be read")
        self.name_label.setText(message)

    # -- user ----------------------------------------------------------------------------
    def _method_chosen(self, index: int) -> None:
        if not self._updating and index >= 0:
            self.method_requested.emit(self.method_combo.itemData(index))

    def paste(self) -> None:
        """A file path (or a copied file) from the clipboard becomes the reference."""
        from PySide6.QtWidgets import QApplication
        mime = QApplication.clipboard().mimeData()
        path = _first_local_file(mime)
        if path is None and mime is not None and mime.hasText():
            text = mime.text().strip()
            if text and Path(text).is_file():
                path = text
        if path is None and mime is not None and mime.hasImage():
            path = _save_clipboard_image(QApplication.clipboard().image())
        if path is not None:
            self.reference_dropped.emit(path)
        else:
            self.name_label.setText("The clipboard holds no picture")

    def dragEnterEvent(self, e) -> None:
        if _first_local_file(e.mimeData()) is not None:
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        path = _first_local_file(e.mimeData())
        if path is not None:
            e.acceptProposedAction()
            self.reference_dropped.emit(path)


def _first_local_file(mime) -> Optional[str]:
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).is_file():
            return url.toLocalFile()
    return None


def _save_clipboard_image(image) -> Optional[str]:
    """A pasted picture (no file behind it) is kept as a PNG in the user's data folder."""
    if image is None or image.isNull():
        return None
    import hashlib
    from ..core.document import data_dir
    folder = data_dir() / "references"
    folder.mkdir(parents=True, exist_ok=True)
    ptr = image.constBits()
    digest = hashlib.sha256(bytes(ptr)[: image.sizeInBytes()]).hexdigest()[:16]
    path = folder / f"pasted-{digest}.png"
    if not path.exists():
        image.save(str(path), "PNG")
    return str(path)


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
            for mode in (cls.modes or (cls.mode,)):
                self.pages[mode] = page
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
            for mode in (cls.modes or (cls.mode,)):
                self.buttons[mode] = b
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
            # A hint added or removed: only the counts change (no engine list, no availability).
            counts = (len(document.hints.points), len(document.hints.strokes), len(document.hints.protected))
            if counts != getattr(self, "_shown_counts", None):
                self._shown_counts = counts
                self.pages["hints"].show_counts(document)
            self._document = document
            return
        self._shown_counts = (len(document.hints.points), len(document.hints.strokes), len(document.hints.protected))
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
        for page in dict.fromkeys(self.pages.values()):
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
        page = self.pages[mode]
        family = page.modes or (mode,)
        if self._document.mode in family:
            return
        # A page of several modes opens on the one last used there, else the first that can run.
        last = getattr(page, "last_mode", None)
        target = last or next((m for m in family if engines_for_mode(m)), mode)
        self.mode_requested.emit(target)

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


class PercentSlider(QWidget):
    """A labelled slider in per cent that edits a document setting: one undo step per drag
    (a merge token per press), and ``dragging`` so previews are drafts while it moves."""

    strength_changed = Signal(float, object)   # value (1.0 = 100 %), merge token (one per slider drag)
    dragging = Signal(bool)

    def __init__(self, label: str, name: str, maximum: int, tooltip: str, icon_name: str = "", parent=None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName(name)
        self.slider.setRange(0, maximum)
        self.slider.setValue(100)
        self.slider.setToolTip(tooltip)
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
        if icon_name:
            lbl = QLabel(self)
            lbl.setPixmap(icon(icon_name).pixmap(16, 16))
            lay.addWidget(lbl)
        lay.addWidget(QLabel(label, self))
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.value_label)

    def set_value(self, value: float) -> None:
        self._updating = True
        try:
            self.slider.setValue(round(value * 100))
            self.value_label.setText(f"{round(value * 100)} %")
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


class ColorStrength(PercentSlider):
    """The global colour strength (saturation) slider, 0 to 200 %."""

    def __init__(self, parent=None):
        super().__init__("Colour strength", "saturationSlider", 200,
                         "How vivid the colours are: 100 % is as the engine made them", "mdi6.contrast-box", parent)
        self.setObjectName("colorStrength")
