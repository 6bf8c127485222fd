"""Before Qt starts: a window that cannot open is one sentence saying why and what to install."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from colorstudio.gui.display import debian_package, plugins_folder, why_no_window

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugins(tmp_path):
    folder = tmp_path / "platforms"
    folder.mkdir()
    for name in ("xcb", "wayland", "offscreen", "minimal"):
        (folder / f"libq{name}.so").write_bytes(b"")
    return folder


def ask(env, plugins, missing=(), cannot_load=(), silent=(), system="linux"):
    return why_no_window(env, system=system, folder=plugins, missing=lambda plugin: list(missing),
                         can_load=lambda lib: lib not in cannot_load, answers=lambda d: d not in silent)


def test_a_desktop_session_opens_the_window(plugins):
    assert ask({"DISPLAY": ":0"}, plugins) is None
    assert ask({"WAYLAND_DISPLAY": "wayland-0"}, plugins) is None
    assert ask({"QT_QPA_PLATFORM": "offscreen"}, plugins) is None


def test_no_display_at_all(plugins):
    reason = ask({}, plugins)
    assert reason.startswith("the window cannot open: there is no display (DISPLAY and WAYLAND_DISPLAY are not set)")
    assert "colorstudio colorize" in reason and "QT_QPA_PLATFORM=offscreen" in reason


def test_xcb_asked_for_without_an_x_display(plugins):
    reason = ask({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, plugins)
    assert "QT_QPA_PLATFORM is xcb but there is no X display (DISPLAY is not set)" in reason


def test_missing_system_libraries_are_named_with_their_packages(plugins):
    reason = ask({"DISPLAY": ":0"}, plugins, missing=["libxcb-icccm.so.4", "libxcb-keysyms.so.1"],
                 cannot_load=["libxcb-cursor.so.0"])
    assert reason == ("the window cannot open: the system libraries libxcb-icccm.so.4, libxcb-keysyms.so.1, "
                      "libxcb-cursor.so.0 are missing; install them with `sudo apt-get install libxcb-icccm4 "
                      "libxcb-keysyms1 libxcb-cursor0` (Debian, Ubuntu) or your system's equivalent")


def test_only_the_cursor_library_missing(plugins):
    reason = ask({"DISPLAY": ":0"}, plugins, cannot_load=["libxcb-cursor.so.0"])
    assert "the system library libxcb-cursor.so.0 is missing; install it with `sudo apt-get install libxcb-cursor0`" \
        in reason


def test_a_display_that_does_not_answer(plugins):
    assert "the X display :7 does not answer" in ask({"DISPLAY": ":7"}, plugins, silent=[":7"])


def test_a_fallback_list_opens_if_any_platform_can(plugins):
    env = {"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}
    assert ask(env, plugins) is None
    reason = ask({"QT_QPA_PLATFORM": "wayland;xcb"}, plugins)
    assert "QT_QPA_PLATFORM is wayland but WAYLAND_DISPLAY is not set" in reason


def test_a_platform_that_is_not_installed(plugins):
    reason = ask({"QT_QPA_PLATFORM": "cocoa"}, plugins)
    assert "asks for the Qt platform 'cocoa', which is not installed; use one of minimal, offscreen, wayland, xcb" \
        in reason


def test_windows_and_macos_are_not_second_guessed(plugins):
    assert ask({}, plugins, system="win32") is None
    assert ask({}, plugins, system="darwin") is None


@pytest.mark.parametrize("soname, package", [
    ("libxcb-cursor.so.0", "libxcb-cursor0"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libEGL.so.1", "libegl1"), ("libdbus-1.so.3", "libdbus-1-3"), ("libxcb-render-util.so.0", "libxcb-render-util0"),
])
def test_debian_package_names(soname, package):
    assert debian_package(soname) == package


def test_the_real_plugins_folder_is_found_without_importing_qt():
    code = ("import sys; from colorstudio.gui.display import plugins_folder; f = plugins_folder(); "
            "print(f is None or (f / 'libqoffscreen.so').exists() or any(f.iterdir())); "
            "print(any(m.startswith('PySide6.Qt') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.stdout.split() == ["True", "False"], out.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 platforms are a Linux matter")
@pytest.mark.skipif(plugins_folder() is None, reason="PySide6 is not installed")
@pytest.mark.parametrize("argv", [[], ["gui"], ["gui", "--screenshot", "shot.png"]])
def test_the_app_without_a_display_exits_2_with_the_sentence(tmp_path, argv):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", HOME=str(tmp_path), COLORSTUDIO_DATA=str(tmp_path / "data"),
               PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "colorstudio", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("colorstudio: the window cannot open: QT_QPA_PLATFORM is xcb but there is "
                                  "no X display"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "qt.qpa" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "shot.png").exists()
