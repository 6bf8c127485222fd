"""Opening a photo off the GUI thread: the window keeps working, the latest open wins."""
from __future__ import annotations

import threading

from PySide6.QtCore import QTimer

from colorstudio.gui.controllers import setting_list
from colorstudio.core import image

from .fakes import edge_photo


class Gate:
    """Holds open_image for the files named until the test opens the gate; records threads."""

    def __init__(self):
        self.threads = []
        self.workers = []   # the worker (gui/workers.py) each open ran on
        self.started = threading.Event()
        self.release = threading.Event()


def slow_open(monkeypatch, slow_names) -> Gate:
    """Make open_image wait at a gate for files named in ``slow_names`` (the test opens it)."""
    real = image.open_image
    gate = Gate()

    def open_image(path, **kwargs):
        from colorstudio.gui.workers import current_worker
        gate.threads.append(threading.current_thread())
        gate.workers.append(current_worker())
        if str(path).endswith(tuple(slow_names)):
            gate.started.set()
            assert gate.release.wait(20), "the test never opened the gate"
        return real(path, **kwargs)

    monkeypatch.setattr(image, "open_image", open_image)
    return gate


def test_a_slow_open_leaves_the_gui_thread_free(make_window, tmp_path, qtbot, monkeypatch):
    gate = slow_open(monkeypatch, ["a.png"])
    photo = edge_photo(tmp_path / "a.png")
    win = make_window()
    ticks_while_loading = []
    timer = QTimer(win)
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks_while_loading.append(win.photo_loader.busy))
    with qtbot.waitSignal(win.photo_open_finished, timeout=10000) as blocker:
        win.open_photo(photo, wait=False)
        assert win.photo_loader.busy and win.busy.isVisibleTo(win)
        assert win.statusBar().currentMessage() == "Opening a.png\u2026"
        assert win.workspace.photo is None, "the open has not happened on the GUI thread"
        assert gate.started.wait(10)
        # The loader is held at its gate: the GUI thread's event loop must still run.
        timer.start()
        qtbot.waitUntil(lambda: len(ticks_while_loading) >= 3, timeout=10000)
        assert all(ticks_while_loading), "the timer ticked while the photo was loading"
        gate.release.set()
    timer.stop()
    assert blocker.args == [True]
    assert gate.threads and gate.threads[0] is not threading.main_thread()
    assert win.workspace.photo_ref.path.endswith("a.png") and win.views.currentWidget() is win.canvas
    assert str(photo.resolve()) in setting_list(win.qsettings, "recent/photos")


def test_opening_b_while_a_is_loading_shows_b(make_window, tmp_path, qtbot, monkeypatch):
    gate = slow_open(monkeypatch, ["a.png"])
    a = edge_photo(tmp_path / "a.png", 240, 160)
    b = edge_photo(tmp_path / "b.png", 100, 300)
    win = make_window()
    opened = []
    win.workspace.photo_opened.connect(opened.append)
    win.open_photo(a, wait=False)
    assert gate.started.wait(10)
    with qtbot.waitSignal(win.workspace.photo_opened, timeout=10000):
        win.open_photo(b, wait=False)       # B finishes while A is still held
    assert gate.workers[0].cancelling, "opening B told A to stop"
    assert not gate.workers[1].cancelling
    gate.release.set()
    # A's thread has finished too, and its late result (queued before its end) has arrived.
    qtbot.waitUntil(lambda: not win.photo_loader.running, timeout=10000)
    assert [p.size for p in opened] == [(100, 300)], "A's result was dropped"
    assert win.workspace.photo_ref.path.endswith("b.png")
    assert not win.photo_loader.busy


def test_a_synchronous_open_supersedes_one_in_the_background(make_window, tmp_path, qtbot, monkeypatch):
    gate = slow_open(monkeypatch, ["a.png"])
    a = edge_photo(tmp_path / "a.png")
    b = edge_photo(tmp_path / "b.png", 100, 300)
    win = make_window()
    win.open_photo(a, wait=False)
    assert gate.started.wait(10)
    assert win.open_photo(b)
    gate.release.set()
    qtbot.waitUntil(lambda: not win.photo_loader.running, timeout=10000)
    assert win.workspace.photo_ref.path.endswith("b.png")


def test_an_unreadable_photo_says_why_once(make_window, tmp_path, qtbot):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a photo at all")
    win = make_window()
    shown = []
    win.message_bar.show_message = lambda text, kind="info", _orig=win.message_bar.show_message: (
        shown.append(text), _orig(text, kind))
    with qtbot.waitSignal(win.photo_open_finished, timeout=10000) as blocker:
        win.open_photo(bad, wait=False)
    assert blocker.args == [False]
    assert len(shown) == 1 and "broken.png" in shown[0] and "\n" not in shown[0]
    assert win.workspace.photo is None and win.views.currentWidget() is win.welcome
    assert not win.busy.isVisibleTo(win)


def test_closing_while_a_photo_loads_waits_for_its_thread(make_window, tmp_path, qtbot, monkeypatch):
    gate = slow_open(monkeypatch, ["a.png"])
    win = make_window()
    win.open_photo(edge_photo(tmp_path / "a.png"), wait=False)
    assert gate.started.wait(10)
    gate.release.set()      # the loader is mid-open (decoding) when the window closes
    win.close()
    assert not win.photo_loader.running and win.workspace.photo is None
