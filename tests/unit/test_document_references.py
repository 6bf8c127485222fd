"""A document's references: recorded with their path, content hash (SHA-256), region and the
settings; reopened as they were; a missing one reported, not fatal; a moved one found again
beside the document or the photo by its content hash. Qt-free."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
from PIL import Image

from colorstudio.core.document import Document
from colorstudio.core.hints import Hints, PointHint
from colorstudio.core.reference import Reference


def picture(path, colour):
    Image.fromarray(np.full((20, 30, 3), colour, np.uint8)).save(path)
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference_document(refs):
    hints = Hints((PointHint(5.0, 6.0, "#c04020", 3.0),), image_size=(30, 20))
    return (Document(hints=hints, mode="reference", engine="exemplar")
            .with_references(refs).with_strength(0.6).with_option("lightness_remap", "histogram"))


def test_saved_references_carry_path_hash_region_and_settings_and_come_back(tmp_path):
    red = picture(tmp_path / "red.png", (200, 30, 30))
    blue = picture(tmp_path / "blue.png", (30, 30, 200))
    doc = reference_document((Reference(str(red), rect=(2, 3, 12, 15)), Reference(str(blue))))
    path = tmp_path / "edit.json"
    doc.save(path)
    recorded = json.loads(path.read_text())["document"]["references"]
    assert recorded == [{"path": str(red), "sha256": sha(red), "rect": [2, 3, 12, 15]},
                        {"path": str(blue), "sha256": sha(blue)}]
    again = Document.load(path)
    located, notes = again.locate_references(near=(tmp_path,))
    assert notes == []
    assert located.references == (Reference(str(red), sha(red), (2, 3, 12, 15)), Reference(str(blue), sha(blue)))
    assert (located.mode, located.engine, located.strength, dict(located.options)) == (
        "reference", "exemplar", 0.6, {"lightness_remap": "histogram"})
    assert located.hints == doc.hints


def test_a_missing_reference_is_reported_and_kept_not_fatal(tmp_path):
    red = picture(tmp_path / "red.png", (200, 30, 30))
    path = tmp_path / "edit.json"
    reference_document((Reference(str(red)),)).save(path)
    red.unlink()
    doc = Document.load(path)                     # opening does not fail
    located, notes = doc.locate_references(near=(tmp_path,))
    assert len(notes) == 1 and "red.png" in notes[0] and "missing" in notes[0]
    assert located.references == doc.references   # still recorded: it may come back
    assert located.references[0].content_hash     # with the hash it had


def test_a_moved_reference_is_found_again_beside_the_document_or_the_photo_by_its_hash(tmp_path):
    old, docs, photos = tmp_path / "old", tmp_path / "docs", tmp_path / "photos"
    for d in (old, docs, photos):
        d.mkdir()
    red = picture(old / "red.png", (200, 30, 30))
    picture(docs / "decoy.png", (30, 200, 30))          # another picture: not taken
    path = docs / "edit.json"
    reference_document((Reference(str(red), rect=(1, 1, 9, 9)),)).save(path)
    digest = sha(red)
    shutil.move(red, photos / "renamed.png")
    located, notes = Document.load(path).locate_references(near=(docs, photos))
    assert located.references == (Reference(str(photos / "renamed.png"), digest, (1, 1, 9, 9)),)
    assert len(notes) == 1 and "found it at" in notes[0]
    # A file of the same name but other content beside the document is not the reference.
    picture(docs / "red.png", (10, 10, 10))
    (photos / "renamed.png").unlink()
    located, notes = Document.load(path).locate_references(near=(docs, photos))
    assert located.references[0].path == str(red) and "missing" in notes[0]


def test_a_reference_changed_in_place_is_reported(tmp_path):
    red = picture(tmp_path / "red.png", (200, 30, 30))
    path = tmp_path / "edit.json"
    reference_document((Reference(str(red)),)).save(path)
    picture(red, (30, 200, 30))
    located, notes = Document.load(path).locate_references(near=(tmp_path,))
    assert located.references[0].path == str(red)
    assert len(notes) == 1 and "changed since the document was saved" in notes[0]


def test_a_relative_reference_path_is_taken_from_the_documents_folder(tmp_path):
    picture(tmp_path / "red.png", (200, 30, 30))
    path = tmp_path / "edit.json"
    reference_document((Reference("red.png"),)).save(path)
    located, notes = Document.load(path).locate_references(near=(tmp_path,))
    assert notes == [] and located.references[0].path == str(tmp_path / "red.png")
    assert located.references[0].content_hash == sha(tmp_path / "red.png")
