"""One edit asks for one preview: a click, a drag and a colour pick, counted at the compute side."""
from __future__ import annotations

from PySide6.QtCore import Qt

from .fakes import edge_photo
from .test_canvas_editing import at, wait_full_preview

WAIT_MS = 20000


def _count(win, monkeypatch):
    asked = {"preview": [], "suggest": []}
    preview, suggest = win.compute.preview, win.compute.suggest

    def counting_preview(job):
        asked["preview"].append(job)
        return preview(job)

    def counting_suggest(job):
        asked["suggest"].append(job)
        return suggest(job)

    monkeypatch.setattr(win.compute, "preview", counting_preview)
    monkeypatch.setattr(win.compute, "suggest", counting_suggest)
    return asked


def test_a_click_asks_for_one_preview_and_one_suggestion(make_window, tmp_path, qtbot, monkeypatch):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    wait_full_preview(qtbot, win)
    asked = _count(win, monkeypatch)
    from colorstudio.gui import panels
    checks = []
    monkeypatch.setattr(panels, "engine_availability",
                        lambda name, _orig=panels.engine_availability: (checks.append(name), _orig(name))[1])
    c = win.canvas
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    assert len(win.editor.document.hints.points) == 1
    assert len(asked["preview"]) == 1, [(j.max_side, j.draft) for j in asked["preview"]]
    assert asked["preview"][0].draft is False
    assert len(asked["suggest"]) <= 1
    # A new point changes the side panel's counts only: no engine list is rebuilt for it.
    assert checks == [], checks
    assert win.mode_panel.page("hints").counts.text().startswith("1 colour point,")
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 80, 80)))
    assert win.mode_panel.page("hints").counts.text().startswith("2 colour points,")
    assert checks == [], checks


def test_a_drag_asks_for_drafts_then_one_settled_preview(make_window, tmp_path, qtbot, monkeypatch):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    asked = _count(win, monkeypatch)
    from colorstudio.gui import panels
    checks = []
    monkeypatch.setattr(panels, "engine_availability",
                        lambda name, _orig=panels.engine_availability: (checks.append(name), _orig(name))[1])

    def drag():
        qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80))
        for x in range(42, 60, 2):
            qtbot.mouseMove(c, at(c, x, 80))
        qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 60, 80))

    wait_full_preview(qtbot, win, drag)
    assert abs(win.editor.document.hints.points[0].x - 60) < 2
    settled = [j for j in asked["preview"] if not j.draft]
    assert len(settled) == 1 and asked["preview"][-1] is settled[0]
    assert len(asked["preview"]) <= 1 + 9
    # Moving a point does not rebuild the side panel (nor ask which engines can run) at each move.
    assert checks == [], checks
