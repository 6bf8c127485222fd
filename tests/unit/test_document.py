"""The edit document: round trips, compatibility with the hints format, autosave store."""
from __future__ import annotations

import json

import pytest

from colorstudio.core.document import (AutosaveStore, Document, DocumentError, PhotoRef, data_dir)
from colorstudio.core.hints import Hints, Stroke


def _doc() -> Document:
    hints = Hints.of(points=[(10, 20, "#c86432", 4), (30.5, 40.25, "#3366cc")],
                     strokes=[Stroke(((1.0, 2.0), (50.0, 60.0)), 8.0, "#22aa44")],
                     image_size=(200, 100))
    return Document(hints=hints, mode="hints", engine="propagation", saturation=1.25,
                    references=("/photos/ref.jpg",),
                    photo=PhotoRef("/photos/a.png", "ab" * 16, 200, 100))


def test_round_trip_through_a_file(tmp_path):
    doc = _doc()
    path = tmp_path / "edit.json"
    doc.save(path)
    back = Document.load(path)
    assert back == doc
    assert back.hints.points[1].x == 30.5
    assert back.photo.content_hash == "ab" * 16


def test_a_saved_document_is_a_valid_hints_file(tmp_path):
    path = tmp_path / "edit.json"
    _doc().save(path)
    hints = Hints.load(path)  # what `colorstudio colorize --hints` does
    assert len(hints.points) == 2 and len(hints.strokes) == 1
    data = json.loads(path.read_text())
    assert data["format"] == "colorstudio.hints" and data["version"] == 1
    assert data["document"]["settings"]["saturation"] == 1.25
    assert data["document"]["mode"] == "hints"


def test_a_plain_hints_file_opens_as_a_hints_document(tmp_path):
    path = tmp_path / "plain.json"
    Hints.of(points=[(1, 2, "#ff0000")]).save(path)
    doc = Document.load(path)
    assert doc.mode == "hints" and doc.engine == "propagation" and doc.saturation == 1.0
    assert doc.hints.points[0].color == "#ff0000"
    assert "document" not in doc.hints.extra


def test_unknown_document_keys_survive_a_round_trip():
    data = _doc().to_dict()
    data["document"]["future_thing"] = {"a": 1}
    data["someone_elses"] = [1, 2]
    back = Document.from_dict(data).to_dict()
    assert back["document"]["future_thing"] == {"a": 1}
    assert back["someone_elses"] == [1, 2]


@pytest.mark.parametrize("patch, message", [
    ({"mode": "telepathy"}, "mode: 'telepathy' is not one of"),
    ({"settings": {"saturation": 9}}, "saturation: 9 is not a number from 0 to 2"),
    ({"settings": {"saturation": "lots"}}, "saturation: 'lots'"),
    ({"version": 7}, "version: 7 is not supported"),
    ({"engine": ""}, "engine: '' is not an engine name"),
    ({"reference": 5}, "reference: 5 is not a file path"),
    ({"photo": {"width": "wide"}}, "photo.width: 'wide' is not a size"),
])
def test_bad_document_fields_are_named(patch, message):
    data = _doc().to_dict()
    data["document"].update(patch)
    with pytest.raises(DocumentError, match=message):
        Document.from_dict(data)


def test_unreadable_files_get_a_sentence(tmp_path):
    with pytest.raises(DocumentError, match="does not exist"):
        Document.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DocumentError, match="not valid JSON"):
        Document.load(bad)
    binary = tmp_path / "photo.json"
    binary.write_bytes(b"\x89PNG\xff\xfe")
    with pytest.raises(DocumentError, match="not UTF-8"):
        Document.load(binary)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "something.else"}))
    with pytest.raises(DocumentError, match="wrong.json: format"):
        Document.load(wrong)


def test_edits_return_new_documents():
    doc = _doc()
    assert doc.with_saturation(0.5).saturation == 0.5 and doc.saturation == 1.25
    assert doc.with_mode("auto", "eccv16").engine == "eccv16"
    assert doc.with_reference(None).reference is None
    with pytest.raises(DocumentError):
        doc.with_saturation(3.0)


def test_for_photo_rescales_hints_to_the_photos_size():
    doc = _doc()
    big = doc.for_photo(PhotoRef("/b.png", "cd" * 16, 400, 200))
    assert big.hints.points[0].x == 20 and big.hints.points[0].y == 40
    assert big.hints.image_size == (400, 200)


def test_autosave_store_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_DATA", str(tmp_path / "data"))
    assert data_dir() == tmp_path / "data"
    store = AutosaveStore()
    doc = _doc()
    assert store.load(doc.photo.content_hash) is None
    path = store.save(doc)
    assert path.parent == tmp_path / "data" / "autosave"
    assert store.load(doc.photo.content_hash) == doc
    assert not list(path.parent.glob("*.part")), "atomic writes leave no temporary files"
    store.discard(doc.photo.content_hash)
    assert store.load(doc.photo.content_hash) is None
    store.discard(doc.photo.content_hash)  # discarding twice is fine


def test_autosave_needs_a_photo_and_a_real_hash(tmp_path):
    store = AutosaveStore(tmp_path)
    with pytest.raises(DocumentError, match="belongs to a photo"):
        store.save(Document())
    with pytest.raises(DocumentError, match="not a photo content hash"):
        store.path_for("../../etc/passwd")


# -- app settings (colorstudio.core.settings) ------------------------------------------------

def test_settings_round_trip_and_defaults(tmp_path, monkeypatch):
    from colorstudio.core.settings import AppSettings, load_settings, save_settings, settings_path
    monkeypatch.setenv("COLORSTUDIO_DATA", str(tmp_path))
    assert load_settings() == (AppSettings(), [])
    save_settings(AppSettings(device="cpu", preview_side=2048))
    assert settings_path() == tmp_path / "settings.json"
    s, problems = load_settings()
    assert s.device == "cpu" and s.preview_side == 2048 and problems == []


def test_bad_settings_fall_back_per_field_with_a_sentence(tmp_path):
    from colorstudio.core.settings import AppSettings, SettingsError, load_settings
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "device": "tpu", "preview_side": 2048, "drag_preview_side": "big"}))
    s, problems = load_settings(path)
    assert s.device == "auto" and s.preview_side == 2048 and s.drag_preview_side == 384
    assert any("device: 'tpu'" in p for p in problems)
    assert any("drag_preview_side" in p for p in problems)
    path.write_text("{nope")
    s, problems = load_settings(path)
    assert s == AppSettings() and "not valid JSON" in problems[0]
    with pytest.raises(SettingsError, match="device"):
        AppSettings(device="gpu0")
