"""A source tree for batch tests: every kind of file a batch meets (imported by the batch tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "photos"



def _iptc_app13(caption: str) -> bytes:
    """A JPEG APP13 segment with one IPTC IIM record (2:120 caption), built by hand."""
    text = caption.encode("utf-8")
    iim = b"\x1c\x02\x78" + len(text).to_bytes(2, "big") + text
    block = b"8BIM\x04\x04\x00\x00" + len(iim).to_bytes(4, "big") + iim + (b"\x00" if len(iim) % 2 else b"")
    payload = b"Photoshop 3.0\x00" + block
    return b"\xff\xed" + (len(payload) + 2).to_bytes(2, "big") + payload


SOURCE_XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
              b'photoshop:Credit="Town Archive"/></rdf:RDF></x:xmpmeta>')


def build_batch_tree(root: Path, *, autosave: Path, extra_photos: int = 0) -> dict:
    """A source tree for batch tests under ``root/src``, with saved edit documents in ``autosave``.

    Returns {"src": folder, "documented": [rel, ...] (photos with a document), "grey": rel of a
    photo without one, "truncated", "fake", "deep16", "rotated", "nested"}.
    """
    from PIL import Image, ImageCms

    from colorstudio.core.document import AutosaveStore, Document, PhotoRef
    from colorstudio.core.hints import Hints, PointHint

    src = root / "src"
    (src / "nested").mkdir(parents=True)
    base = Image.open(PHOTOS / "kodim03.png").convert("RGB").resize((96, 64))
    grey = Image.open(PHOTOS / "david_hilbert_bw.png").convert("L").resize((48, 60))
    base.save(src / "a_colour.jpg", quality=90)
    Image.fromarray(np.asarray(grey)[:, ::-1].copy()).save(src / "b_grey.png")
    grey.save(src / "nested" / "c.png")
    Image.fromarray(np.asarray(grey)[::-1].copy()).save(src / "edited.png")
    # A truncated JPEG: the first half of a good one.
    full = (src / "a_colour.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (src / "fake.png").write_text("this is not a picture\n")
    (src / "notes.txt").write_text("scanned 1931\n")
    # 16-bit RGB TIFF with an sRGB ICC profile.
    import tifffile
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    deep = (np.asarray(base, np.uint16) * 257)[:40, :50]
    deep[..., 1] = deep[..., 0] // 2 + 3000
    tifffile.imwrite(src / "nested" / "deep16.tif", deep, photometric="rgb",
                     extratags=[(34675, "B", len(icc), icc, True)])
    # An EXIF-rotated JPEG (orientation 6: stored 40 wide x 30 high, shown 30 x 40) with IPTC and XMP.
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Archive Scanner Co"
    Image.fromarray(np.asarray(grey)[:30, :40].copy()).save(
        src / "rotated.jpg", exif=exif.tobytes(), quality=92, extra=_iptc_app13("Harbour, 1931"), xmp=SOURCE_XMP)
    for i in range(extra_photos):
        Image.fromarray(np.roll(np.asarray(grey), 7 * i, axis=1)).save(src / f"extra_{i:02d}.png")
    # A symlink loop in the nested folder.
    try:
        (src / "nested" / "loop").symlink_to("..", target_is_directory=True)
    except OSError:
        pass

    store = AutosaveStore(autosave)
    documented = ["a_colour.jpg", "edited.png", "nested/c.png", "nested/deep16.tif", "rotated.jpg",
                  *[f"extra_{i:02d}.png" for i in range(extra_photos)]]
    from colorstudio.core.image import open_image
    for rel in documented:
        photo = open_image(src / rel)
        w, h = photo.size
        hints = Hints(points=(PointHint(w * 0.25, h * 0.5, "#c86432", 3), PointHint(w * 0.75, h * 0.5, "#3366aa", 3)),
                      image_size=(w, h))
        store.save(Document(hints=hints, photo=PhotoRef(str(src / rel), photo.content_hash, w, h)))
    # Documents for files that will not decode (found by the hash of their bytes, as the app would).
    import hashlib
    for rel in ("truncated.jpg", "fake.png"):
        sha = hashlib.sha256((src / rel).read_bytes()).hexdigest()
        store.save(Document(hints=Hints(points=(PointHint(5, 5, "#c86432", 3),)), photo=PhotoRef(str(src / rel), sha)))
    return {"src": src, "documented": documented, "grey": "b_grey.png", "truncated": "truncated.jpg",
            "fake": "fake.png", "deep16": "nested/deep16.tif", "rotated": "rotated.jpg", "nested": "nested/c.png",
            "notes": "notes.txt"}


def tree_hashes(folder: Path) -> dict:
    """Every file under ``folder`` (links not followed) with the SHA-256 of its bytes."""
    import hashlib
    import os
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
