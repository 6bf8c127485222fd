"""The photos a network learns from: a folder read recursively, split, cropped, loaded.

* :func:`scan_folder` reads every file under the folder once: its SHA-256 (the file hash
  that decides the held-out split and identifies the data in the manifest) and a small
  thumbnail that tells colour photos from grey or toned ones. Grey or toned pictures and files
  that are not readable pictures are skipped and counted; nothing is written.
* The split is by file hash, so it does not depend on names, order or the machine: a photo is
  held out when the first 8 hex digits of its hash, as a fraction of 16^8, fall below the
  held-out share (with at least one held out and one to train on when there are two or more).
* :class:`CropDataset` serves training samples by their index in one endless stream: sample k
  belongs to epoch k // n, whose order is a permutation drawn from (seed, epoch), and its crop,
  flip, hints and fading are drawn from (seed, k). So the data order is a pure function of
  the seed and the step: a resumed run sees exactly the samples an uninterrupted one would,
  whatever the number of DataLoader workers.
* Memory is bounded whatever the folder's size: only the file list is kept; each worker
  decodes pictures on demand (JPEGs at a reduced DCT scale), keeps them at most twice the crop
  size, in a cache of a fixed number of bytes.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..core.color import rgb_to_lab
from ..core.files import read_regular_bytes
from .errors import TrainingError
from .hints import fade, rasterise_points, simulate_points

PICTURE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
#: A picture is grey or toned when 95 % of its pixels lie this close (ab units) to its median colour.
MONOCHROME_SPREAD = 5.0
THUMBNAIL = 128
#: Per-worker cache of decoded pictures.
CACHE_BYTES = 192 << 20


@dataclass(frozen=True)
class Photo:
    path: str
    sha256: str
    width: int
    height: int

    @property
    def fraction(self) -> float:
        """Where this photo's hash falls in [0, 1): the split's key."""
        return int(self.sha256[:8], 16) / 16 ** 8


@dataclass
class Collection:
    """What a folder holds for training."""

    folder: str
    train: list = field(default_factory=list)          # Photo
    held_out: list = field(default_factory=list)       # Photo
    grey: int = 0
    broken: int = 0
    broken_examples: list = field(default_factory=list)

    @property
    def photos(self) -> list:
        return [*self.train, *self.held_out]

    def list_hash(self) -> str:
        """A hash of the set of files (their content hashes, sorted): the data's identity."""
        h = hashlib.sha256()
        for sha in sorted(p.sha256 for p in self.photos):
            h.update(sha.encode())
        return h.hexdigest()

    def summary(self) -> dict:
        return {"folder": self.folder, "colour_photos": len(self.photos), "train": len(self.train),
                "held_out": len(self.held_out), "grey_skipped": self.grey, "broken_skipped": self.broken,
                "file_list_sha256": self.list_hash()}


def _open_picture(data: bytes, draft: int):
    from PIL import Image
    im = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        im.draft("RGB", (draft, draft))
    im.load()
    return im


def _is_monochrome(im) -> bool:
    """Grey, or toned (sepia, cyanotype): nearly every pixel has the picture's median colour."""
    return _spread(im) <= MONOCHROME_SPREAD


def _spread(im) -> float:
    small = im.convert("RGB")
    small.thumbnail((THUMBNAIL, THUMBNAIL))
    lab = rgb_to_lab(np.asarray(small, np.float32) / 255.0).reshape(-1, 3)
    ab = lab[:, 1:]
    return float(np.percentile(np.hypot(*(ab - np.median(ab, axis=0)).T), 95))


def find_pictures(folder: Path) -> list[Path]:
    """Every file under ``folder`` with a picture's suffix, in a stable order."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if Path(name).suffix.lower() in PICTURE_SUFFIXES and not name.startswith("."):
                out.append(Path(root) / name)
    return out


def scan_folder(folder, held_out_share: float = 0.1, progress: Optional[Callable[[int, int], None]] = None,
                should_stop: Optional[Callable[[], bool]] = None) -> Collection:
    """Read ``folder`` recursively and split its colour photos (see the module notes).

    Raises TrainingError when the folder does not exist or holds no colour photo.
    """
    from PIL import Image
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise TrainingError(f"the folder {folder} does not exist")
    files = find_pictures(folder)
    col = Collection(str(folder))
    photos: list[Photo] = []
    seen: set[str] = set()
    for i, path in enumerate(files):
        if should_stop is not None and should_stop():
            from ..core.jobs import Cancelled
            raise Cancelled()
        try:
            data = read_regular_bytes(path, what="picture")  # a FIFO named .png: refused, never waited on
            sha = hashlib.sha256(data).hexdigest()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = _open_picture(data, THUMBNAIL)
                size = Image.open(io.BytesIO(data)).size
                mono = _is_monochrome(im)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # not a picture
            col.broken += 1
            if len(col.broken_examples) < 3:
                col.broken_examples.append(f"{path.name} ({type(exc).__name__})")
            continue
        if progress is not None:
            progress(i + 1, len(files))
        if mono:
            col.grey += 1
            continue
        if sha in seen:  # the same file twice counts once
            continue
        seen.add(sha)
        photos.append(Photo(str(path), sha, size[0], size[1]))
    if not photos:
        what = []
        if col.grey:
            what.append(f"{col.grey} grey or toned")
        if col.broken:
            what.append(f"{col.broken} unreadable")
        found = f" (it has {' and '.join(what)} pictures)" if what else ""
        raise TrainingError(f"the folder {folder} has no colour photos to learn from{found}; "
                            f"give a folder of colour photos (JPEG, PNG, TIFF, BMP or WebP)")
    photos.sort(key=lambda p: p.sha256)
    held = [p for p in photos if p.fraction < held_out_share]
    if len(photos) >= 2 and not held:
        held = [photos[0]]
    if len(held) == len(photos) and len(photos) >= 2:
        held = held[:-1]
    held_set = {p.sha256 for p in held}
    col.held_out = held
    col.train = [p for p in photos if p.sha256 not in held_set] or list(photos)
    return col


class PictureCache:
    """Decoded pictures (RGB uint8, short side at most ``limit`` px), bounded in bytes."""

    def __init__(self, limit: int, budget: int = CACHE_BYTES):
        self.limit, self.budget = limit, budget
        self._items: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._bytes = 0

    def get(self, photo: Photo) -> np.ndarray:
        arr = self._items.pop(photo.path, None)
        if arr is None:
            arr = self._load(photo)
            self._bytes += arr.nbytes
        self._items[photo.path] = arr
        while self._bytes > self.budget and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return arr

    def _load(self, photo: Photo) -> np.ndarray:
        from PIL import Image
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = _open_picture(read_regular_bytes(photo.path, what="picture"), self.limit).convert("RGB")
        except (OSError, ValueError, SyntaxError) as exc:
            raise TrainingError(f"the photo {photo.path} could not be read any more ({exc}); "
                                f"was it changed or removed while training?") from None
        w, h = im.size
        short = min(w, h)
        if short > self.limit:
            s = self.limit / short
            im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR, reducing_gap=2.0)
        return np.asarray(im, np.uint8)


def random_crop(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop (side between ``size`` and the short side), resized to ``size``,
    flipped left-right half the time: (size, size, 3) float32 0..1."""
    from PIL import Image
    h, w = rgb.shape[:2]
    short = min(h, w)
    side = int(rng.integers(min(size, short), short + 1))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = rgb[y:y + side, x:x + side]
    if side != size:
        crop = np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop, dtype=np.float32) / 255.0


def centre_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The centred square at the short side, resized to ``size``: float32 0..1."""
    from PIL import Image
    h, w = rgb.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    crop = np.asarray(Image.fromarray(np.ascontiguousarray(rgb[y:y + side, x:x + side])).resize(
        (size, size), Image.BILINEAR))
    return crop.astype(np.float32) / 255.0


def sample_from_rgb(rgb: np.ndarray, rng: np.random.Generator, needs: tuple) -> dict:
    """A training sample from an RGB crop: L (1,S,S), ab (2,S,S), and what ``needs`` asks for:
    "hints" (simulated points: hint_ab, hint_mask), "faded" (faded_ab)."""
    lab = rgb_to_lab(rgb)
    L = lab[..., 0]
    ab = lab[..., 1:]
    out = {"L": L[None].astype(np.float32), "ab": np.ascontiguousarray(ab.transpose(2, 0, 1))}
    if "hints" in needs:
        pts = simulate_points(ab, rng, L)
        out["hint_ab"], out["hint_mask"] = rasterise_points(pts, *L.shape)
    if "faded" in needs:
        out["faded_ab"] = np.ascontiguousarray(fade(rgb, rng)[..., 1:].transpose(2, 0, 1))
    return out


class CropDataset:
    """Training samples by index in the endless stream (see the module notes); a map-style
    dataset for torch's DataLoader (no torch needed to build one)."""

    def __init__(self, photos: list, size: int, seed: int, needs: tuple = (), cache_bytes: int = CACHE_BYTES):
        if not photos:
            raise TrainingError("there are no photos to train on")
        self.photos = list(photos)
        self.size, self.seed, self.needs = int(size), int(seed), tuple(needs)
        self.cache_bytes = cache_bytes
        self._cache: Optional[PictureCache] = None
        self._orders: "OrderedDict[int, np.ndarray]" = OrderedDict()

    def __len__(self) -> int:  # the stream is endless; the sampler chooses the indices
        return 2 ** 62

    def photo_for(self, k: int) -> Photo:
        n = len(self.photos)
        epoch, pos = divmod(int(k), n)
        order = self._orders.get(epoch)
        if order is None:
            order = np.random.default_rng([self.seed, 0, epoch]).permutation(n)
            self._orders[epoch] = order
            while len(self._orders) > 4:
                self._orders.popitem(last=False)
        return self.photos[int(order[pos])]

    def __getitem__(self, k: int) -> dict:
        if self._cache is None:
            self._cache = PictureCache(2 * self.size, self.cache_bytes)
        rng = np.random.default_rng([self.seed, 1, int(k)])
        rgb = random_crop(self._cache.get(self.photo_for(k)), self.size, rng)
        return sample_from_rgb(rgb, rng, self.needs)


def held_out_samples(photos: list, size: int, needs: tuple, limit: int = 16) -> list:
    """Deterministic evaluation samples: the centred square of each held-out photo (up to
    ``limit``), with hints and fading drawn from its file hash. Each item also carries the
    RGB crop ("rgb", H x W x 3 float) and the simulated points ("points")."""
    cache = PictureCache(2 * size, 64 << 20)
    out = []
    for photo in photos[:limit]:
        rgb = centre_crop(cache.get(photo), size)
        rng = np.random.default_rng(int(photo.sha256[:16], 16))
        sample = sample_from_rgb(rgb, rng, tuple(n for n in needs if n != "hints"))
        ab = sample["ab"].transpose(1, 2, 0)
        pts = simulate_points(ab, rng, sample["L"][0], count=int(rng.integers(3, 11)))
        sample["hint_ab"], sample["hint_mask"] = rasterise_points(pts, size, size)
        sample["points"], sample["rgb"], sample["photo"] = pts, rgb, photo
        out.append(sample)
    return out
