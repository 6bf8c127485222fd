"""`colorize --hints DOCUMENT` with a document in reference mode: its references are found
where they are now (moved beside the photo: by their hash), a missing one is one sentence."""
from __future__ import annotations

import numpy as np
from PIL import Image

from colorstudio.core.color import rgb_to_lab
from colorstudio.core.document import Document
from colorstudio.core.hints import Hints
from colorstudio.core.reference import Reference



def test_a_documents_moved_reference_is_found_and_a_missing_one_is_a_sentence(cli, tmp_path):
    photos, refs, docs = (tmp_path / n for n in ("photos", "refs", "docs"))
    for d in (photos, refs, docs):
        d.mkdir()
    photo = photos / "grey.png"
    yy, xx = np.mgrid[0:48, 0:64]
    Image.fromarray(np.clip(np.where(xx < 32, 70, 180) + 25 * np.sin(yy / 5.0), 0, 255).astype(np.uint8)).save(photo)
    a = np.zeros((40, 60, 3), np.uint8)
    a[:, :30], a[:, 30:] = (60, 60, 200), (220, 200, 60)
    ref = refs / "postcard.png"
    Image.fromarray(a).save(ref)
    doc_path = docs / "grey.json"
    Document(hints=Hints(image_size=(64, 48)), mode="reference", engine="exemplar").with_references(
        (Reference(str(ref)),)).save(doc_path)
    ref.rename(photos / "renamed.png")
    out = tmp_path / "out.png"
    r = cli("colorize", photo, "-o", out, "--hints", doc_path)
    assert r.rc == 0, r.err
    assert "found it at" in r.err and "renamed.png" in r.err
    lab = rgb_to_lab(np.asarray(Image.open(out).convert("RGB"), np.float32) / 255.0)
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 5, "the reference's colours are on the photo"

    (photos / "renamed.png").unlink()
    r = cli("colorize", photo, "-o", tmp_path / "out2.png", "--hints", doc_path)
    assert r.rc == 2 and "Traceback" not in r.err
    assert "postcard.png" in r.err and "missing" in r.err
    assert not (tmp_path / "out2.png").exists()
