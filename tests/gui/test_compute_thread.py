"""The one compute thread seen from the window: responsiveness, coalescing, errors, no leaks."""
from __future__ import annotations

import re
import threading

from PySide6.QtCore import QThread, QTimer, Qt

from colorstudio.engines.base import EngineError
from colorstudio.gui.compute import ComputeThread

from .fakes import SlowEngine, edge_photo, mini_factory
from .test_canvas_editing import at, wait_full_preview

WAIT_MS = 20000


def test_a_drag_stays_responsive_while_a_slow_engine_works(make_window, tmp_path, qtbot):
    gate = threading.Event()
    engine = SlowEngine(gate=gate)       # every colorization waits until the test opens the gate
    win = make_window(engine=engine, session_factory=mini_factory)
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 40))
    qtbot.waitUntil(lambda: engine.active == 1, timeout=WAIT_MS)   # the engine is busy, held at the gate
    paints = c.paint_count
    calls = engine.calls
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 40))
    moves = 60
    for i in range(1, moves + 1):
        qtbot.mouseMove(c, at(c, 30 + i, 40 + i / 2))
        c.repaint()   # what the screen would ask for on each event
        # The point follows the pointer and the canvas paints while the engine cannot answer.
        assert abs(win.editor.hints.points[0].x - (30 + i)) < 1
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 90, 70))
    assert c.paint_count - paints >= moves
    assert engine.active == 1 and engine.calls == calls, "still the one colorization, held at the gate"
    gate.set()
    wait_full_preview(qtbot, win)
    computed = engine.calls - calls
    assert computed <= 2, f"{computed} colorizations for {moves} edits: requests must coalesce"
    assert engine.max_active == 1, "one computation at a time"
    assert abs(win.editor.hints.points[0].x - 90) < 1


def test_drags_get_small_previews_and_the_release_a_full_one(make_window, tmp_path, qtbot):
    win = make_window(engine=SlowEngine(), session_factory=mini_factory)
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    c = win.canvas
    sides = []
    win.workspace.preview_ready.connect(lambda r: sides.append(r.max_side))
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 40))
    for i in range(1, 6):
        qtbot.mouseMove(c, at(c, 30 + 5 * i, 40))
        qtbot.wait(30)
    qtbot.waitUntil(lambda: 384 in sides, timeout=WAIT_MS)
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=at(c, 55, 40))
    result = wait_full_preview(qtbot, win)
    assert result.max_side == 1024 and sides[-1] == 1024
    assert result.rgb.shape[:2] == (160, 240)


def test_switching_photos_never_shows_the_old_photos_preview(make_window, tmp_path, qtbot):
    gate = threading.Event()
    engine = SlowEngine(gate=gate)
    win = make_window(engine=engine, session_factory=mini_factory)
    assert win.open_photo(edge_photo(tmp_path / "a.png", 240, 160))
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=at(win.canvas, 30, 40))
    qtbot.waitUntil(lambda: engine.active == 1, timeout=WAIT_MS)   # photo A is being coloured
    shown = []
    win.workspace.preview_ready.connect(lambda r: shown.append(None if r.rgb is None else r.rgb.shape[:2]))
    assert win.open_photo(edge_photo(tmp_path / "b.png", 100, 300))
    gate.set()
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=at(win.canvas, 20, 20))
    wait_full_preview(qtbot, win)
    assert (160, 240) not in shown, "a result for the previous photo reached the screen"
    assert shown[-1] == (300, 100)


class BrokenEngine(SlowEngine):
    def start(self, lightness, photo=None):
        raise EngineError("the test engine is broken on purpose")


def test_an_engine_error_appears_once_and_the_app_stays_usable(make_window, tmp_path, qtbot):
    win = make_window(engine=BrokenEngine(), session_factory=mini_factory)
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    shown = []
    orig = win.message_bar.show_message
    win.message_bar.show_message = lambda text, kind="error": shown.append(text) or orig(text, kind)
    c = win.canvas
    with qtbot.waitSignal(win.compute.failed, timeout=WAIT_MS):
        qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 30, 40))
    with qtbot.waitSignal(win.compute.failed, timeout=WAIT_MS):
        qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 60, 40))
    assert win.message_bar.isVisible()
    assert "broken on purpose" in win.message_bar.message
    assert sum(win.message_bar.message == s[:1].upper() + s[1:] for s in shown) >= 1
    visible_texts = {s for s in shown}
    assert len(visible_texts) == 1, "the same error is one message, not a pile"
    assert len(win.editor.hints.points) == 2, "editing goes on"
    assert win.compute.is_running()
    # A click can queue a full-quality preview behind the quick one; once the last request
    # has failed too, the busy indicator must clear.
    qtbot.waitUntil(lambda: not win.busy.isVisible(), timeout=WAIT_MS)


def test_the_busy_indicator_follows_the_work(make_window, tmp_path, qtbot):
    gate = threading.Event()
    win = make_window(engine=SlowEngine(gate=gate), session_factory=mini_factory)
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=at(win.canvas, 30, 40))
    qtbot.waitUntil(win.busy.isVisible, timeout=WAIT_MS)
    assert "Slow test engine" not in win.status_engine.text(), "nothing made a picture yet"
    with qtbot.waitSignal(win.workspace.preview_ready, timeout=WAIT_MS,
                          check_params_cb=lambda r: win.compute.preview_up_to_date):
        gate.set()
    assert not win.busy.isVisible(), "the work is over: the indicator is off when the last picture arrives"
    text = win.status_engine.text()
    assert "Slow test engine" in text, text
    assert re.search(r"\d+(\.\d+)? s\b", text), f"the status bar shows the last colorization's time: {text!r}"


def test_closing_the_window_stops_the_compute_thread_even_mid_colorization(make_window, tmp_path, qtbot):
    gate = threading.Event()   # never set: the engine only stops because it is told to
    engine = SlowEngine(gate=gate)
    win = make_window(engine=engine, session_factory=mini_factory)
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=at(win.canvas, 30, 40))
    qtbot.waitUntil(lambda: engine.active == 1, timeout=WAIT_MS)
    assert ComputeThread.running_threads()
    win.close()
    assert not win.compute.is_running()
    assert not ComputeThread.running_threads()
    assert engine.active == 0


def test_one_compute_thread_per_window(make_window):
    before = len(ComputeThread.running_threads())
    win = make_window()
    assert len(ComputeThread.running_threads()) == before + 1
    assert isinstance(win.compute._thread, QThread)
