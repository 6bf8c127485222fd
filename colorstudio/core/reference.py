"""Reference pictures: a colour photo, a postcard or a painting whose colours or style a
photo takes.

A :class:`Reference` is what a document records (where the picture was, what it held, and
an optional rectangle of it); a :class:`ReferencePicture` is the decoded picture an engine
works from: sRGB and CIELAB at a bounded size, so an enormous reference is downscaled, never
refused. Decoding runs wherever the caller is (the compute thread, a batch worker), never on
the GUI thread.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

#: References are decoded with their long side at most this (the engines work smaller).
REFERENCE_MAX_SIDE = 2048


class ReferenceError(ValueError):
    """A reference picture cannot be used; the message is one sentence naming the file."""


@dataclass(frozen=True)
class Reference:
    """A reference as a document records it. ``rect`` = (x0, y0, x1, y1) in the picture's
    pixels limits it to a region; None means the whole picture."""

    path: str
    content_hash: str = ""
    rect: Optional[tuple] = None

    def to_dict(self) -> dict:
        d = {"path": self.path, "sha256": self.content_hash}
        if self.rect is not None:
            d["rect"] = [int(v) for v in self.rect]
        return d

    @classmethod
    def from_dict(cls, d) -> "Reference":
        if not isinstance(d, dict) or not isinstance(d.get("path"), str) or not d["path"]:
            raise ReferenceError("a reference must name its file (\"path\")")
        rect = d.get("rect")
        if rect is not None:
            if (not isinstance(rect, (list, tuple)) or len(rect) != 4
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in rect)):
                raise ReferenceError("a reference's rect must be four whole numbers x0, y0, x1, y1")
            rect = tuple(rect)
        sha = d.get("sha256", "")
        return cls(d["path"], sha if isinstance(sha, str) else "", rect)


#: Picture files looked at when a moved reference is searched for by its content hash.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif")
_SEARCH_LIMIT = 400  # files per folder: a folder of thousands is not hashed whole to find one
_hashes: dict = {}   # (resolved path, size, mtime_ns) -> SHA-256
_hashes_lock = threading.Lock()


def file_hash(path) -> Optional[str]:
    """SHA-256 of the file at ``path`` (cached while its size and time stay), None when it
    cannot be read."""
    import hashlib
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        return None
    with _hashes_lock:
        if key in _hashes:
            return _hashes[key]
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    with _hashes_lock:
        if len(_hashes) > 512:
            _hashes.clear()
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def with_content_hash(ref: Reference, base=None) -> Reference:
    """``ref`` with its file's content hash filled in (unchanged when it has one or its
    file cannot be read); a relative path is taken from the folder ``base``."""
    if ref.content_hash:
        return ref
    path = Path(ref.path)
    h = file_hash(Path(base) / path if base is not None and not path.is_absolute() else path)
    return ref if h is None else Reference(ref.path, h, ref.rect)


def locate_references(references, near=()) -> tuple[tuple, list[str]]:
    """Find a document's references again when it is reopened.

    ``near``: folders a moved reference may be found in (the document's, the photo's); a
    relative path is taken from the first. Returns (references, sentences): each reference
    with its path where the file is now, and one sentence for anything the user should
    know. A reference whose file is gone is kept (it may come back: a drive plugged in
    again) and reported, never an error; one found beside the document or the photo by its
    name and content hash, or by its content hash alone, takes its new path.
    """
    near = [Path(n) for n in near if n]
    out, notes = [], []
    for ref in references:
        path = Path(ref.path)
        if not path.is_absolute() and near:
            path = near[0] / path
        name = path.name or ref.path
        if path.is_file():
            h = file_hash(path) if ref.content_hash else None
            if ref.content_hash and h is not None and h.lower() != ref.content_hash.lower():
                found = _find_by_hash(ref.content_hash, near, name)
                if found is not None:
                    out.append(Reference(str(found), ref.content_hash, ref.rect))
                    notes.append(f"the reference {name} has changed since the document was saved; "
                                 f"the original was found at {found}")
                    continue
                notes.append(f"the reference {name} has changed since the document was saved; "
                             "its colours are taken from the file as it is now")
            out.append(Reference(str(path), ref.content_hash, ref.rect))
            continue
        found = _find_by_hash(ref.content_hash, near, name) if ref.content_hash else None
        if found is None and not ref.content_hash:
            for folder in near:   # no hash recorded: the same name beside the document will do
                if (folder / name).is_file():
                    found = folder / name
                    break
        if found is not None:
            out.append(Reference(str(found), ref.content_hash, ref.rect))
            notes.append(f"the reference {name} was not at {path}; found it at {found}")
        else:
            out.append(ref)
            notes.append(f"the reference {name} is missing (it was at {path}); "
                         "choose it again on the Reference & style page")
    return tuple(out), notes


def _find_by_hash(content_hash: str, folders, name: str) -> Optional[Path]:
    """A picture file in ``folders`` (not their subfolders) with this content hash; a file
    of the same name is tried first."""
    want = content_hash.lower()
    for folder in folders:
        same = folder / name
        if same.is_file() and (file_hash(same) or "").lower() == want:
            return same
    for folder in folders:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        n = 0
        for entry in entries:
            if entry.suffix.lower() not in PICTURE_SUFFIXES or not entry.is_file():
                continue
            n += 1
            if n > _SEARCH_LIMIT:
                break
            if (file_hash(entry) or "").lower() == want:
                return entry
    return None


@dataclass(frozen=True, eq=False)
class ReferencePicture:
    """A decoded reference: ``rgb`` (h, w, 3) float32 sRGB 0..1 and ``lab`` (h, w, 3)
    float32 CIELAB, the region ``rect`` already cut out, long side <= REFERENCE_MAX_SIDE."""

    path: str
    content_hash: str
    rgb: np.ndarray
    lab: np.ndarray
    rect: Optional[tuple] = None
    was_color: bool = True

    @property
    def key(self) -> tuple:
        """What results made from it depend on: its bytes and the region."""
        return (self.content_hash, self.rect)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def _decode(path: Path, max_side: int) -> tuple[np.ndarray, str]:
    """(rgb float32 sRGB 0..1 with the long side <= max_side, content hash).

    Only a regular file is read, through one descriptor (a FIFO or a device is refused)."""
    from . import image as img
    name = path.name or str(path)
    with img.open_photo_file(path, what="picture") as fh:
        head = img.read_head(fh, path)
        if not img.looks_like_image(head):
            raise ReferenceError(f"{name} is not a picture Colorstudio can read")
        content_hash = img.hash_file(fh, path)
        return _decode_opened(fh, name, max_side, img), content_hash


def _decode_opened(fh, name: str, max_side: int, img) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(fh) as im:
            im.draft("RGB", (max_side, max_side))    # JPEG: decode smaller, cheaply
            im = ImageOps.exif_transpose(im)
            icc = im.info.get("icc_profile")
            if im.mode not in ("RGB", "L"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
                if im.mode == "RGBA":
                    bg = Image.new("RGB", im.size, (255, 255, 255))
                    bg.paste(im, mask=im.getchannel("A"))
                    im = bg
            if icc and im.mode == "RGB":
                im = img.cms_to_srgb(im, icc) or im
            im = im.convert("RGB")
            if max(im.size) > max_side:
                scale = max_side / max(im.size)
                im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))),
                               Image.Resampling.BOX)
            rgb = np.asarray(im, dtype=np.float32) / 255.0
    except ReferenceError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ReferenceError(f"{name} could not be read as a picture ({exc.__class__.__name__})") from None
    return rgb


_cache_lock = threading.Lock()
_cache: "OrderedDict[tuple, ReferencePicture]" = OrderedDict()
_seen: dict = {}     # (path, size, mtime, rect, max_side) -> cache key
_CACHE_SIZE = 4


def load_reference(ref, *, max_side: int = REFERENCE_MAX_SIDE, need_color: bool = False) -> ReferencePicture:
    """Decode ``ref`` (a Reference, or a path) for an engine; cached by content hash.

    ``need_color``: refuse a grey picture with a sentence (reference colours need colour).
    Raises ReferenceError (one sentence naming the file) for anything unusable.
    """
    from .color import rgb_to_lab
    from .image import ImageError
    if not isinstance(ref, Reference):
        ref = Reference(str(ref))
    path = Path(ref.path)
    # A file seen before (same place, size and time) is not decoded again: previews ask often.
    try:
        st = path.stat()
        seen = (str(path.resolve()), st.st_size, st.st_mtime_ns, ref.rect, max_side)
    except OSError:
        seen = None
    with _cache_lock:
        hit = _cache.get(_seen.get(seen)) if seen is not None else None
        if hit is not None:
            _cache.move_to_end((hit.content_hash, ref.rect, max_side))
    if hit is None:
        try:
            rgb, content_hash = _decode(path, max_side)
        except ImageError as exc:
            raise ReferenceError(str(exc)) from None
        key = (content_hash, ref.rect, max_side)
        with _cache_lock:
            hit = _cache.get(key)
            if seen is not None:
                _seen[seen] = key
    if hit is None:
        rect = None
        if ref.rect is not None:
            x0, y0, x1, y1 = ref.rect
            h, w = rgb.shape[:2]
            # The rectangle is in the decoded picture's pixels (thumbnails report it so).
            x0, x1 = sorted((max(0, min(w, int(x0))), max(0, min(w, int(x1)))))
            y0, y1 = sorted((max(0, min(h, int(y0))), max(0, min(h, int(y1)))))
            if x1 - x0 < 4 or y1 - y0 < 4:
                raise ReferenceError(f"the region chosen in {path.name} is too small to take colours from")
            rgb = rgb[y0:y1, x0:x1]
            rect = (x0, y0, x1, y1)
        rgb = np.ascontiguousarray(rgb, dtype=np.float32)
        lab = rgb_to_lab(rgb).astype(np.float32)
        chroma = float(np.percentile(np.hypot(lab[..., 1], lab[..., 2]), 95))
        hit = ReferencePicture(str(path), content_hash, rgb, lab, rect, was_color=chroma > 4.0)
        with _cache_lock:
            _cache[key] = hit
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    if need_color and not hit.was_color:
        raise ReferenceError(f"{path.name} has no colour to take; a reference for reference colours needs colour")
    if hit.path != str(path):
        # The same picture met under another name (a copy): its pixels are shared, but it is
        # named as asked, so the page showing it and any message name this file.
        hit = replace(hit, path=str(path))
    return hit


def load_photo_colour(photo, *, max_side: int = REFERENCE_MAX_SIDE) -> ReferencePicture:
    """The photo's own colours, decoded from its file at a working size (long side at most
    ``max_side``), as a :class:`ReferencePicture` (``rgb``, ``lab``).

    ``core.image.SourceImage`` keeps only the lightness at full resolution; engines that
    need a colour photo's own chroma (palette transfer) read it here, on the compute thread.
    ``photo`` is a SourceImage (or anything with ``path`` and ``was_color``). Raises
    ReferenceError with one sentence when the photo is grey or has no file to read it from.
    """
    path = getattr(photo, "path", None)
    if photo is not None and not getattr(photo, "was_color", True):
        name = Path(path).name if path else "this photo"
        raise ReferenceError(f"{name} is grey, so it has no palette to change; colour it first "
                             "(hints or reference colours), or use reference colours instead")
    if not path:
        raise ReferenceError("the photo's own colours are not available (it was not opened from a file)")
    return load_reference(Reference(str(path)), max_side=max_side)
