"""The Reference & style page, driven as a user would: paste a picture, pick the method,
move the strength slider, choose the look, take a colour and a region from the thumbnail."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtWidgets import QApplication

from colorstudio.core.color import rgb_to_lab

from .fakes import edge_photo
from .test_canvas_editing import wait_full_preview

WAIT_MS = 120000
STYLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "styles"


def chroma(rgb) -> float:
    lab = rgb_to_lab(np.asarray(rgb, np.float32) / 255.0)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


@pytest.fixture
def painting(tmp_path) -> Path:
    """A small colourful picture: red left, blue right (or a shared painting when present)."""
    src = STYLES / "woman_with_hat_matisse.jpg"
    path = tmp_path / "painting.png"
    if src.is_file():
        with Image.open(src) as im:
            im.convert("RGB").resize((160, 200)).save(path)
    else:
        a = np.zeros((200, 160, 3), np.uint8)
        a[:, :80] = (200, 40, 40)
        a[:, 80:] = (40, 60, 200)
        Image.fromarray(a).save(path)
    return path


@pytest.fixture(autouse=True)
def clean_clipboard():
    """The clipboard owns what a test put there; empty it before the application goes, or
    Qt frees it after Python has shut down (a crash at exit)."""
    yield
    QApplication.clipboard().clear()


def paste_file(qtbot, page, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    QApplication.clipboard().setMimeData(mime)
    qtbot.mouseClick(page.paste_button, Qt.MouseButton.LeftButton)


def test_style_from_a_pasted_painting_with_strength_and_look(make_window, tmp_path, qtbot, painting):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    wait_full_preview(qtbot, win)
    qtbot.mouseClick(win.mode_panel.buttons["reference"], Qt.MouseButton.LeftButton)
    page = win.mode_panel.pages["reference"]
    assert win.mode_panel.stack.currentWidget() is page
    # The method combo, by keyboard: reference colours -> palette -> style.
    page.method_combo.setFocus()
    while win.editor.document.mode != "style":
        qtbot.keyClick(page.method_combo, Qt.Key.Key_Down)
    assert win.editor.document.engine == "microast"
    assert page.tones.isVisible() and page.painting.isVisible()
    with qtbot.waitSignal(win.compute.thumbnail_ready, timeout=WAIT_MS):
        with qtbot.waitSignal(win.workspace.preview_ready, timeout=WAIT_MS,
                              check_params_cb=lambda r: r.rgb is not None and not win.editor.interacting) as got:
            paste_file(qtbot, page, painting)
    assert [r.path for r in win.editor.document.references] == [str(painting)]
    assert "painting.png" in page.name_label.text()
    full = got.args[0]
    assert chroma(full.rgb) > 5, "the painting's colours are on the photo"
    # Strength down with the keyboard: less of the style, without running the network again.
    page.strength.setFocus()
    result = wait_full_preview(qtbot, win, lambda: qtbot.keyClick(page.strength, Qt.Key.Key_PageDown), WAIT_MS)
    assert win.editor.document.strength < 1.0
    assert chroma(result.rgb) < chroma(full.rgb)
    weaker = wait_full_preview(qtbot, win, lambda: qtbot.keyClick(page.strength, Qt.Key.Key_Home), WAIT_MS)
    assert win.editor.document.strength == 0.0
    assert chroma(weaker.rgb) < 0.5, "strength 0 is the photo itself (grey)"
    # Full painting: the one look that changes the photo's tones.
    qtbot.keyClick(page.strength, Qt.Key.Key_End)
    painted = wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(page.painting, Qt.MouseButton.LeftButton,
                                                                     pos=QPoint(6, page.painting.height() // 2)))
    assert win.editor.document.look == "painting"
    L_photo = win.workspace.photo.lightness
    L_painted = rgb_to_lab(painted.rgb.astype(np.float32) / 255.0)[..., 0]
    assert np.abs(L_painted.mean() - L_photo.mean()) > 0.5 or np.abs(L_painted - L_photo).mean() > 2
    # Undo goes back to the photo's tones.
    win.editor.undo_stack.undo()
    assert win.editor.document.look == "tones"


def test_the_thumbnail_gives_colours_and_regions(make_window, tmp_path, qtbot):
    a = np.zeros((120, 200, 3), np.uint8)
    a[:, :100] = (220, 30, 30)
    a[:, 100:] = (30, 40, 220)
    ref = tmp_path / "two.png"
    Image.fromarray(a).save(ref)
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    win.workspace.switch_mode("style")
    page = win.mode_panel.pages["reference"]
    with qtbot.waitSignal(win.compute.thumbnail_ready, timeout=WAIT_MS):
        paste_file(qtbot, page, ref)
    view = page.view
    x0, y0, pw, ph = view._frame()
    # A click on the red half takes red for hints.
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(x0 + pw * 0.25), int(y0 + ph / 2)))
    r, g, b = Image.new("RGB", (1, 1), win.editor.color).getpixel((0, 0))
    assert r > 150 and b < 80
    # A drag over the blue half limits the reference to it (in the decoded picture's pixels).
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(int(x0 + pw * 0.6), int(y0 + ph * 0.2)))
    qtbot.mouseMove(view, QPoint(int(x0 + pw * 0.8), int(y0 + ph * 0.5)))
    qtbot.mouseMove(view, QPoint(int(x0 + pw * 0.95), int(y0 + ph * 0.9)))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(int(x0 + pw * 0.95), int(y0 + ph * 0.9)))
    rect = win.editor.document.references[0].rect
    assert rect is not None and 110 <= rect[0] <= 130 and rect[2] >= 185 and rect[1] < rect[3]
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(x0 + pw / 2), int(y0 + ph / 2)))
    assert win.editor.document.references[0].rect is None


def test_an_unreadable_reference_says_so_on_the_page(make_window, tmp_path, qtbot):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"no picture here")
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    win.workspace.switch_mode("style")
    page = win.mode_panel.pages["reference"]
    with qtbot.waitSignal(win.compute.thumbnail_failed, timeout=WAIT_MS):
        paste_file(qtbot, page, bad)
    assert "could not be read" in page.view.text()
    assert "bad.png" in page.name_label.text()


def test_a_saved_reference_is_found_again_or_reported_when_the_document_reopens(make_window, tmp_path, qtbot):
    import hashlib
    import json
    refs, docs = tmp_path / "refs", tmp_path / "docs"
    refs.mkdir()
    docs.mkdir()
    ref = refs / "postcard.png"
    a = np.zeros((60, 80, 3), np.uint8)
    a[:, :40], a[:, 40:] = (200, 40, 40), (40, 60, 200)
    Image.fromarray(a).save(ref)
    photo = edge_photo(tmp_path / "edge.png")
    win = make_window()
    assert win.open_photo(photo)
    qtbot.mouseClick(win.mode_panel.buttons["reference"], Qt.MouseButton.LeftButton)
    page = win.mode_panel.pages["reference"]
    with qtbot.waitSignal(win.compute.thumbnail_ready, timeout=WAIT_MS):
        paste_file(qtbot, page, ref)
    doc_path = docs / "edge.json"
    assert win.save_document(doc_path)
    recorded = json.loads(doc_path.read_text())["document"]["references"]
    assert recorded == [{"path": str(ref), "sha256": hashlib.sha256(ref.read_bytes()).hexdigest()}]
    win.close()

    moved = tmp_path / "renamed.png"          # beside the photo, under another name
    ref.rename(moved)
    win2 = make_window()
    assert win2.open_document(doc_path), win2.message_bar.message
    assert [r.path for r in win2.editor.document.references] == [str(moved)]
    assert "found it at" in win2.message_bar.message
    win2.close()

    moved.unlink()
    win3 = make_window()
    assert win3.open_document(doc_path), "a missing reference is not fatal"
    assert "postcard.png" in win3.message_bar.message and "missing" in win3.message_bar.message
    assert [r.path for r in win3.editor.document.references] == [str(ref)], "still recorded"
    assert win3.editor.document.mode == "reference"


def test_a_pasted_reference_shows_its_thumbnail_before_its_colours_reach_the_photo(make_window, tmp_path, qtbot,
                                                                                  painting):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    wait_full_preview(qtbot, win)
    win.workspace.switch_mode("reference")
    wait_full_preview(qtbot, win)     # the compute thread is idle: the paste's preview starts at once
    page = win.mode_panel.pages["reference"]
    shown_with_colour = []

    def arrived(result) -> None:
        if result.rgb is not None and chroma(result.rgb) > 5:
            shown_with_colour.append(page.name_label.text())

    win.workspace.preview_ready.connect(arrived)
    with qtbot.waitSignal(win.workspace.preview_ready, timeout=WAIT_MS,
                          check_params_cb=lambda r: r.rgb is not None and not r.draft and chroma(r.rgb) > 5):
        paste_file(qtbot, page, painting)
    # The page names the picture with its size (the thumbnail's arrival) before any preview
    # coloured from it is on screen: never "Opening the reference..." over a coloured photo.
    assert shown_with_colour and "painting.png (" in shown_with_colour[0], shown_with_colour
    assert "Opening" not in page.view.text()
