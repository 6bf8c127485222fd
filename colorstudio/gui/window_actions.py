"""The main window's actions, menus and toolbar, built from one table.

Every action has a qtawesome icon and a tooltip that ends with its shortcuts; the keyboard
shortcuts sheet is generated from the same actions, so it cannot fall out of date.
"""
from __future__ import annotations

from PySide6.QtGui import QActionGroup, QKeySequence

from .actions import make_action, plain_text
from .icons import icon
from .tools import TOOLS


def build_actions(self) -> None:
    """Create ``self.actions_by_name`` (and the tool and view groups) for the window ``self``."""
    A = lambda *a, **k: make_action(self, *a, **k)  # noqa: E731
    c, e = self.canvas, self.editor
    self.actions_by_name = acts = {}
    for a in (
        A("open", "&Open photo…", "mdi6.folder-open", ["Ctrl+O"], "Open a photo", self.open_photo_dialog),
        A("openDocument", "Open &hints…", "mdi6.file-document-outline", ["Ctrl+Shift+O"],
          "Open a saved hints document to continue it", self.open_document_dialog),
        A("openSample", "Open &sample photo", "mdi6.face-woman-profile", [], "Open the portrait that comes with "
          "Colorstudio", self.open_sample),
        A("save", "&Save hints", "mdi6.content-save", ["Ctrl+S"], "Save the hints and settings", self.save),
        A("saveAs", "Save hints &as…", "mdi6.content-save-edit", ["Ctrl+Shift+S"],
          "Save the hints and settings to a new file", self.save_as),
        A("export", "&Export colour photo…", "mdi6.export", ["Ctrl+E"],
          "Export the colour photo at full resolution", self.export_dialog),
        A("quit", "&Quit", "mdi6.exit-run", ["Ctrl+Q"], "Quit Colorstudio", self.close),
        A("delete", "&Remove hint", "mdi6.delete-outline", ["Delete", "Backspace"],
          "Remove the selected colour point or stroke", lambda: e.remove(e.selection)),
        A("smaller", "S&maller hint", "mdi6.minus-circle", ["["], "Make the selected hint (and the next) smaller",
          lambda: e.resize_selected(1 / 1.25)),
        A("larger", "&Larger hint", "mdi6.plus-circle", ["]"], "Make the selected hint (and the next) larger",
          lambda: e.resize_selected(1.25)),
        A("viewResult", "&Result", "mdi6.image", ["1"], "Show the colour result", lambda: c.set_view_mode("result"),
          checkable=False),
        A("viewOriginal", "&Original", "mdi6.image-filter-black-white", ["2"], "Show the original photo",
          lambda: c.set_view_mode("original")),
        A("viewSplit", "&Before / after", "mdi6.compare-horizontal", ["3"],
          "Show before and after side by side with a divider you can drag", lambda: c.set_view_mode("split")),
        A("showHints", "Show &hints", "mdi6.eye-outline", ["H"], "Show or hide the hints on the photo",
          c.set_show_hints, checkable=True),
        A("showReach", "Show &reach of the selected hint", "mdi6.target-variant", ["R"],
          "Show how far the selected hint's colour reaches (bright: its colour; dim: none of it)",
          self.reach.set_enabled, checkable=True),
        A("fit", "&Fit to window", "mdi6.fit-to-screen", ["Ctrl+0", "F"], "Fit the whole photo in the window", c.fit),
        A("actualSize", "&100 %", "mdi6.numeric-1-box", ["Ctrl+1"], "One photo pixel per screen pixel",
          c.actual_size),
        A("zoomIn", "Zoom &in", "mdi6.magnify-plus", ["Ctrl+=", "Ctrl++"], "Zoom in", lambda: c.zoom_by(1.25)),
        A("zoomOut", "Zoom &out", "mdi6.magnify-minus", ["Ctrl+-"], "Zoom out", lambda: c.zoom_by(0.8)),
        A("shortcuts", "&Keyboard shortcuts", "mdi6.keyboard-outline", ["F1", "Ctrl+/"],
          "Show every keyboard shortcut", self.show_shortcuts),
        A("about", "&About Colorstudio", "mdi6.information", [], "About Colorstudio", self.show_about),
        A("models", "&Models…", "mdi6.package-variant", [], "Install, import or remove the neural models",
          self.show_models),
        A("batch", "&Batch…", "mdi6.folder-multiple-image", [], "Colorize a folder of photos", self.show_batch),
        A("train", "&Train a colorizer…", "mdi6.brain", [], "Train a colorization network on a folder of your "
          "colour photos", self.show_train),
    ):
        acts[a.objectName()] = a
    for i, (mode, label) in enumerate((("auto", "&Automatic"), ("hints", "&Hints"), ("reference", "&Reference && style"))):
        acts[f"mode_{mode}"] = A(f"mode_{mode}", label, self.mode_panel.pages[mode].icon_name, [f"Alt+{i + 1}"],
                                 f"Switch to the {plain_text(label)} mode",
                                 lambda m=mode: self.workspace.switch_mode(m))
    acts["showHints"].setChecked(True)
    undo = e.undo_stack.createUndoAction(self, "&Undo")
    undo.setObjectName("undo")
    undo.setIcon(icon("mdi6.undo"))
    undo.setShortcuts([QKeySequence("Ctrl+Z")])
    redo = e.undo_stack.createRedoAction(self, "&Redo")
    redo.setObjectName("redo")
    redo.setIcon(icon("mdi6.redo"))
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    for a, tip in ((undo, "Undo the last edit (Ctrl+Z)"), (redo, "Redo (Ctrl+Shift+Z, Ctrl+Y)")):
        a.setToolTip(tip)
        acts[a.objectName()] = a
    self.tool_group = QActionGroup(self)
    for cls in TOOLS:
        a = A(f"tool_{cls.name}", cls.label, cls.icon, [cls.shortcut], f"{cls.label}: {cls.tip}",
              lambda _=False, n=cls.name: c.set_tool(n), checkable=True)
        self.tool_group.addAction(a)
        acts[a.objectName()] = a
    acts["tool_point"].setChecked(True)
    self.view_group = QActionGroup(self)
    for n in ("viewResult", "viewOriginal", "viewSplit"):
        acts[n].setCheckable(True)
        self.view_group.addAction(acts[n])
    acts["viewResult"].setChecked(True)
    for a in acts.values():
        self.addAction(a)  # shortcuts work even when the toolbar is hidden

def build_menus_and_toolbar(self) -> None:
    """The menu bar (with ``self.recent_menu``) and the main toolbar of the window ``self``."""
    acts = self.actions_by_name
    mb = self.menuBar()
    m = mb.addMenu("&File")
    for n in ("open", "openSample"):
        m.addAction(acts[n])
    self.recent_menu = m.addMenu(icon("mdi6.history"), "Open &recent")
    m.addSeparator()
    for n in ("openDocument", "save", "saveAs"):
        m.addAction(acts[n])
    m.addSeparator()
    m.addAction(acts["export"])
    m.addSeparator()
    m.addAction(acts["quit"])
    m = mb.addMenu("&Edit")
    for n in ("undo", "redo", None, "delete", "smaller", "larger"):
        m.addSeparator() if n is None else m.addAction(acts[n])
    m = mb.addMenu("&View")
    for n in ("viewResult", "viewOriginal", "viewSplit", None, "showHints", "showReach", None, "fit", "actualSize",
              "zoomIn", "zoomOut"):
        m.addSeparator() if n is None else m.addAction(acts[n])
    m = mb.addMenu("&Tools")
    for cls in TOOLS:
        m.addAction(acts[f"tool_{cls.name}"])
    m.addSeparator()
    m.addAction(acts["models"])
    m.addAction(acts["batch"])
    m.addAction(acts["train"])
    m = mb.addMenu("&Mode")
    for mode in ("auto", "hints", "reference"):
        m.addAction(acts[f"mode_{mode}"])
    m = mb.addMenu("&Help")
    m.addAction(acts["shortcuts"])
    m.addAction(acts["about"])
    tb = self.addToolBar("Main")
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    for n in ("open", "save", "export", None, "undo", "redo", None, "tool_point", "tool_brush", "tool_protect",
              "tool_eraser", "tool_eyedropper", None, "viewResult", "viewOriginal", "viewSplit", "showHints", None, "fit",
              "actualSize", "zoomIn", "zoomOut"):
        tb.addSeparator() if n is None else tb.addAction(acts[n])
