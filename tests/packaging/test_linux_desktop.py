"""Linux desktop integration: the .desktop entry and AppStream metainfo validate with the
freedesktop tools, the icons are there at every standard size, and the README names the
system packages that Qt's xcb platform plugin needs (found with ldd)."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

import colorstudio

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "packaging" / "linux"
APP_ID = "io.github.colorstudio.Colorstudio"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def _desktop() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    cp.optionxform = str
    cp.read(DESKTOP, encoding="utf-8")
    return cp["Desktop Entry"]


def test_desktop_file_validates():
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian/Ubuntu: apt-get install desktop-file-utils)")
    r = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout, r.stdout + r.stderr


def test_metainfo_validates():
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli is not installed (Debian/Ubuntu: apt-get install appstream)")
    # --no-net: the screenshot URLs point at the repository, which this machine may not reach.
    r = subprocess.run([tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_desktop_entry_and_metainfo_agree_with_the_app():
    entry = _desktop()
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("icon") == entry["Icon"] == APP_ID
    assert entry["Exec"].split()[0] == "colorstudio-gui"
    mimes = set(filter(None, entry["MimeType"].split(";")))
    assert mimes == {m.text for m in root.iter("mediatype")}
    assert {"image/jpeg", "image/png", "image/tiff"} <= mimes
    # Every release gets an entry: the newest is this version.
    releases = [r.get("version") for r in root.iter("release")]
    assert releases and releases[0] == colorstudio.__version__, (releases, colorstudio.__version__)
    assert root.find("content_rating") is not None and root.findtext("project_license") == "MIT"
    for image in root.iter("image"):
        assert image.text.startswith("https://github.com/colorstudio/colorstudio/raw/main/docs/")
        assert (REPO / "docs" / image.text.rsplit("/docs/", 1)[1]).is_file(), image.text
    # The running app names itself after the desktop entry (window matching, Wayland app id).
    assert f'setDesktopFileName("{APP_ID}")' in (REPO / "colorstudio" / "gui" / "app.py").read_text()


def test_icons_at_every_standard_size():
    hicolor = LINUX / "icons" / "hicolor"
    svg = hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    assert svg.read_bytes() == (REPO / "resources" / "icons" / "colorstudio.svg").read_bytes(), \
        "rerun packaging/render_icons.py after editing the icon"
    for n in SIZES:
        png = hicolor / f"{n}x{n}" / "apps" / f"{APP_ID}.png"
        with Image.open(png) as im:
            assert im.size == (n, n) and im.mode == "RGBA", (png, im.size, im.mode)
            alpha = im.getchannel("A")
            assert alpha.getpixel((0, 0)) == 0, "the corners are transparent (rounded card)"
            assert alpha.getpixel((n // 2, n // 2)) == 255


# -- the system libraries Qt needs to open a window -------------------------------------------

def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package of a library, by Debian's naming rule (libfoo.so.1 -> libfoo1,
    libfoo-x11.so.0 -> libfoo-x11-0)."""
    name, ver = re.match(r"lib(.+?)\.so\.(\d+)", soname).groups()
    name = name.lower()
    return f"lib{name}{'-' if name[-1].isdigit() else ''}{ver}"


def _xcb_plugin_libraries() -> dict[str, bool]:
    """Every system library the xcb plugin links to, and whether it was found."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the xcb platform plugin is Linux only")
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("ldd is not available")
    import PySide6
    qt = Path(PySide6.__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip(f"this PySide6 has no xcb platform plugin at {plugin}")
    out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True).stdout
    libs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+\.so[.\d]*)\s*=>\s*(.*)", line)
        if m and "/Qt/" not in m.group(2) and "PySide6" not in m.group(2):
            libs[m.group(1)] = "not found" not in m.group(2)
    return libs


def _readme_apt_packages() -> set[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = [ln for ln in readme.splitlines() if re.search(r"\bapt(-get)? install\b", ln)]
    return {w for ln in lines for w in ln.split() if w.startswith("lib") or w.startswith("python3")}


def test_readme_names_the_packages_the_qt_window_needs():
    libs = _xcb_plugin_libraries()
    named = _readme_apt_packages()
    # The X11 client libraries a minimal Debian or Ubuntu lacks; glibc, GL, fontconfig and
    # D-Bus come with any desktop.
    xlibs = [s for s in libs if re.match(r"lib(xcb-|xkbcommon-x11|X11-xcb)", s)]
    assert xlibs, f"ldd found no xcb libraries: {sorted(libs)}"
    unnamed = sorted({debian_package(s) for s in xlibs} - named)
    assert not unnamed, f"README.md's apt-get line misses {unnamed}"
    missing = sorted(s for s, found in libs.items() if not found)
    unnamed_missing = sorted({debian_package(s) for s in missing} - named)
    assert not unnamed_missing, f"missing here and not in README.md: {unnamed_missing}"
    if missing and os.environ.get("COLORSTUDIO_REQUIRE_XCB"):
        pytest.fail("the Qt window cannot open here; install: " + " ".join(debian_package(s) for s in missing))
    if missing:
        print("missing here (the window would not open):", " ".join(debian_package(s) for s in missing))


def test_debian_package_names():
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libX11-xcb.so.1") == "libx11-xcb1"
    assert debian_package("libxcb-render-util.so.0") == "libxcb-render-util0"
