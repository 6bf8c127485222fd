"""Which photos a batch sees and where their results go.

The walk is cheap: a file is a candidate by its suffix alone (decoding tells the rest, in a
worker), a folder is entered once whatever links lead to it (symlink loops end), and the
output folder is never walked into. Output paths mirror the source tree: the same folders,
the stem kept, the chosen format's extension.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

#: Suffixes a batch tries to open (what ``core.image.open_image`` reads).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".bmp", ".webp",
                            ".gif", ".ppm", ".pgm", ".pbm", ".tga"})
#: ``--format same``: a source keeps its format where Colorstudio writes it, else PNG.
_SAME = {".jpg": ".jpg", ".jpeg": ".jpeg", ".jpe": ".jpg", ".jfif": ".jpg", ".png": ".png",
         ".tif": ".tif", ".tiff": ".tiff", ".bmp": ".bmp", ".webp": ".webp"}
FORMAT_SUFFIX = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg"}
OUTPUT_FORMATS = ("same", "png", "tiff", "jpeg")

#: Files the batch keeps in OUTPUT_DIR.
MANIFEST_NAME = "colorstudio-batch.sqlite"
LOCK_NAME = "colorstudio-batch.lock"


class BatchError(ValueError):
    """A batch cannot start; the message is one sentence for the user (exit status 2)."""


@dataclass(frozen=True)
class Entry:
    """One file met in SOURCE_DIR: a candidate photo (``skip`` empty) or a file skipped and why."""

    path: Path          # as found (links not resolved)
    rel: str            # relative to SOURCE_DIR, with forward slashes: the manifest's key
    skip: str = ""


def check_folders(source, output) -> tuple[Path, Path]:
    """Both folders resolved; BatchError when SOURCE_DIR is not a folder or when OUTPUT_DIR is
    it, lies inside it (also through a symlink) or holds it (the mirror would land in it)."""
    src, out = Path(source).expanduser(), Path(output).expanduser()
    if not src.exists():
        raise BatchError(f"the source folder {src} does not exist")
    if not src.is_dir():
        raise BatchError(f"{src} is not a folder; give the folder that holds the photos")
    rsrc = src.resolve()
    rout = out.resolve()  # also resolves a not-yet-existing path through its existing parents
    if out.exists() and not out.is_dir():
        raise BatchError(f"{out} is a file; the output must be a folder")
    if rout == rsrc:
        raise BatchError(f"the output folder {out} is the source folder; Colorstudio never writes "
                         "into the source folder, choose another output folder")
    if rsrc in rout.parents:
        raise BatchError(f"the output folder {out} is inside the source folder {src}; Colorstudio "
                         "never writes into the source folder, choose a folder outside it")
    if rout in rsrc.parents:
        raise BatchError(f"the source folder {src} is inside the output folder {out}; the results "
                         "would be written among the sources, choose another output folder")
    return rsrc, rout


def walk(source: Path, *, recursive: bool, avoid: Optional[Path] = None) -> Iterator[Entry]:
    """The files of ``source`` (sorted, folders depth first), following links safely.

    A folder already entered (by its device and inode) is not entered again, so a symlink
    loop ends; ``avoid`` (the output folder) is never entered.
    """
    seen: set[tuple[int, int]] = set()
    avoid_r = avoid.resolve() if avoid is not None else None

    def visit(folder: Path, rel: str) -> Iterator[Entry]:
        try:
            st = folder.stat()
        except OSError:
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Entry(folder, rel or ".", f"the folder could not be read ({exc.strerror or exc})")
            return
        subfolders = []
        for item in items:
            name = item.name
            item_rel = f"{rel}/{name}" if rel else name
            path = Path(item.path)
            try:
                is_dir = item.is_dir(follow_symlinks=True)
                is_file = not is_dir and item.is_file(follow_symlinks=True)
            except OSError:
                is_dir = is_file = False
            if is_dir:
                if recursive and not name.startswith("."):
                    subfolders.append((path, item_rel))
                continue
            if name.startswith("."):
                continue  # hidden files (.DS_Store, editors' temporaries) are not photos
            if not is_file:
                yield Entry(path, item_rel, "not a regular file (a broken link or a device)")
            elif Path(name).suffix.lower() not in PHOTO_SUFFIXES:
                yield Entry(path, item_rel, f"not a photo (suffix {Path(name).suffix or 'none'!s})")
            else:
                yield Entry(path, item_rel)
        for path, item_rel in subfolders:
            if avoid_r is not None:
                try:
                    r = path.resolve()
                    if r == avoid_r or avoid_r in r.parents:
                        continue
                except OSError:
                    continue
            yield from visit(path, item_rel)

    yield from visit(source, "")


def output_suffix(rel: str, fmt: str) -> str:
    if fmt == "same":
        return _SAME.get(Path(rel).suffix.lower(), ".png")
    return FORMAT_SUFFIX[fmt]


def output_rel(rel: str, fmt: str, clash: bool = False) -> str:
    """Where ``rel``'s result goes, relative to OUTPUT_DIR. ``clash``: another photo in the same
    folder has the same stem, so both keep their own suffix in the name (a.jpg -> a.jpg.png)."""
    p = Path(rel)
    stem = p.name if clash else p.stem
    return str(p.with_name(stem + output_suffix(rel, fmt)).as_posix())


def output_names(rels: list[str], fmt: str) -> dict[str, str]:
    """Output paths for photos in one folder, with clashing stems told apart."""
    by_target: dict[str, list[str]] = {}
    for rel in rels:
        by_target.setdefault(output_rel(rel, fmt).lower(), []).append(rel)
    out = {}
    for group in by_target.values():
        for rel in group:
            out[rel] = output_rel(rel, fmt, clash=len(group) > 1)
    return out
