"""Can a window open here? Asked before Qt is started, because Qt aborts the process when it cannot.

Without a display, or when a system library its platform plugin needs is missing (on a fresh
Debian: libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1), QApplication prints its own lines
and aborts (exit 134). ``why_no_window()`` finds those cases first and says, in one sentence,
why and what to install. It does not import Qt (only locates the PySide6 package's plugins),
and it answers None where it cannot tell, so a working setup is never refused.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional

#: Libraries Qt's xcb plugin opens at run time (not listed by ldd).
XCB_DLOPENED = ("libxcb-cursor.so.0",)
ADVICE = ("run Colorstudio in a desktop session, use `colorstudio colorize` on the command line, or set "
          "QT_QPA_PLATFORM=offscreen for a window nobody sees")


def plugins_folder() -> Optional[Path]:
    """PySide6's platform plugins folder, without importing Qt; None when PySide6 is absent."""
    import importlib.util
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "Qt" / "plugins" / "platforms"
        if folder.is_dir():
            return folder
    return None


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries ``ldd`` reports as not found for ``plugin`` (empty when unknown)."""
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = re.findall(r"^\s*(\S+)\s*=>\s*not found", out, re.M)
    return list(dict.fromkeys(found))


def loadable(name: str) -> bool:
    """Whether the dynamic loader can open the library ``name``."""
    import ctypes
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships ``soname`` by Debian's naming rule (libfoo.so.1 -> libfoo1)."""
    m = re.match(r"^(.*)\.so\.(\d+)", soname)
    if not m:
        return soname
    base, major = m.group(1).lower(), m.group(2)
    return f"{base}-{major}" if base[-1].isdigit() else f"{base}{major}"


def display_answers(display: str) -> bool:
    """Whether a local X display (":0", "unix:1.0") has a server socket; True when unsure."""
    m = re.match(r"^(?:unix)?:(\d+)(?:\.\d+)?$", display)
    if not m:
        return True  # a remote or unusual display: let Qt try
    path = f"/tmp/.X11-unix/X{m.group(1)}"
    if os.path.exists(path):
        return True
    if sys.platform.startswith("linux"):  # X servers also listen on an abstract socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect("\0" + path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    return False


def why_no_window(environ: Optional[Mapping[str, str]] = None, *, system: str = sys.platform,
                  folder: Optional[Path] = None,
                  missing: Callable[[Path], list] = missing_libraries,
                  can_load: Callable[[str], bool] = loadable,
                  answers: Callable[[str], bool] = display_answers) -> Optional[str]:
    """One sentence saying why the window cannot open here and what to do, or None if it can.

    Only Linux (and other X11/Wayland systems) is checked; Windows and macOS always have a
    display. ``QT_QPA_PLATFORM`` is honoured, including a list of fallbacks ("wayland;xcb").
    """
    if system.startswith(("win", "darwin", "cygwin")):
        return None
    env = os.environ if environ is None else environ
    folder = folder if folder is not None else plugins_folder()
    requested = [p.split(":", 1)[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()]
    candidates = requested or (["wayland", "xcb"] if env.get("WAYLAND_DISPLAY") else ["xcb"])
    reasons = [_why_not(name, env, folder, missing, can_load, answers, explicit=bool(requested))
               for name in candidates]
    if any(r is None for r in reasons):
        return None
    return reasons[0]


def _why_not(name, env, folder, missing, can_load, answers, explicit) -> Optional[str]:
    plugin = folder / f"libq{name}.so" if folder is not None else None
    if folder is not None and not plugin.exists():
        known = sorted(p.name[4:-3] for p in folder.glob("libq*.so"))
        return (f"the window cannot open: QT_QPA_PLATFORM asks for the Qt platform {name!r}, which is not "
                f"installed; use one of {', '.join(known)}")
    if name == "xcb" and not env.get("DISPLAY"):
        if explicit:
            return (f"the window cannot open: QT_QPA_PLATFORM is xcb but there is no X display (DISPLAY is not "
                    f"set); {ADVICE}")
        return f"the window cannot open: there is no display (DISPLAY and WAYLAND_DISPLAY are not set); {ADVICE}"
    if name == "wayland" and not env.get("WAYLAND_DISPLAY"):
        return f"the window cannot open: QT_QPA_PLATFORM is wayland but WAYLAND_DISPLAY is not set; {ADVICE}"
    libs = missing(plugin) if plugin is not None else []
    if name == "xcb":
        libs += [lib for lib in XCB_DLOPENED if lib not in libs and not can_load(lib)]
    if libs:
        packages = " ".join(dict.fromkeys(debian_package(lib) for lib in libs))
        many = len(libs) > 1
        return (f"the window cannot open: the system librar{'ies' if many else 'y'} {', '.join(libs)} "
                f"{'are' if many else 'is'} missing; install {'them' if many else 'it'} with "
                f"`sudo apt-get install {packages}` (Debian, Ubuntu) or your system's equivalent")
    if name == "xcb" and not answers(env["DISPLAY"]):
        return f"the window cannot open: the X display {env['DISPLAY']} does not answer; {ADVICE}"
    return None
