"""Hostile hints and document files: every one is a HintsError/DocumentError sentence, never an
internal error, and a message never repeats a huge value."""
from __future__ import annotations

import json

import pytest

from colorstudio.core import hints as hints_module
from colorstudio.core.document import Document, DocumentError
from colorstudio.core.hints import Hints, HintsError

POINT = '{"x": %s, "y": 2, "color": "#c86432"}'


def _hints(tmp_path, text: str):
    path = tmp_path / "h.json"
    path.write_text(text)
    return path


CASES = {
    "5,001-digit integer": ('{"points": [%s]}' % (POINT % ("1" * 5001)), "number too long to read"),
    "negative 5,001-digit integer": ('{"points": [%s]}' % (POINT % ("-" + "7" * 5001)), "number too long to read"),
    "4,000-digit integer": ('{"points": [%s]}' % (POINT % ("9" * 4000)), "points[0].x: 999999999999\u2026 (a 4000-digit number) is not a number"),
    "1e999": ('{"points": [%s]}' % (POINT % "1e999"), "points[0].x: Infinity is not a number"),
    "huge float": ('{"points": [%s]}' % (POINT % "1.5e300"), "points[0].x: 1.5e+300 is not a number"),
    "NaN literal": ('{"points": [%s]}' % (POINT % "NaN"), "points[0].x: NaN is not a number"),
    "-Infinity literal": ('{"strokes": [{"points": [[1, 2], [-Infinity, 3]], "color": "red"}]}',
                          "strokes[0].points[1]: [-Infinity, 3] is not an [x, y] pair"),
    "deeply nested": ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    "deeply nested value": ('{"points": [{"x": ' + "[" * 50_000 + "]" * 50_000 + ', "y": 1, "color": "red"}]}',
                            "nested too deeply"),
    "long version number": ('{"version": %s}' % ("3" * 4000), "version: a number of more than 40 digits is not supported"),
    "version as text": ('{"version": "1"}', "version: '1' is not a whole number"),
    "points as an object": ('{"points": {"x": 1}}', "points: must be a list"),
    "a point as a list": ('{"points": [[1, 2, "red"]]}', "points[0]: must be an object"),
    "a huge colour string": ('{"points": [{"x": 1, "y": 2, "color": "%s"}]}' % ("z" * 100_000),
                             "points[0].color: \"zzzz"),
    "colour as a number": ('{"points": [{"x": 1, "y": 2, "color": 12}]}', "points[0].color: 12 is not a colour"),
    "image width infinite": ('{"image": {"width": Infinity, "height": 5}}', "image.width: inf is not a positive number"),
    "image width huge": ('{"image": {"width": %s, "height": 5}}' % ("8" * 3000), "image.width: a number of more than"),
    "radius as a bool": ('{"points": [{"x": 1, "y": 2, "color": "red", "radius": true}]}',
                         "points[0].radius: true is not a positive number"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_hints_file_is_one_sentence(tmp_path, case):
    text, fragment = CASES[case]
    path = _hints(tmp_path, text)
    with pytest.raises(HintsError) as err:
        Hints.load(path)
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message and len(message) < 300, message


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_document_file_is_one_sentence(tmp_path, case):
    text, fragment = CASES[case]
    path = _hints(tmp_path, text)
    with pytest.raises(DocumentError) as err:
        Document.load(path)
    assert fragment in str(err.value) and len(str(err.value)) < 300


@pytest.mark.parametrize("settings, fragment", [
    ({"saturation": "9" * 4000}, "saturation: '99999999"),
    ({"saturation": 10 ** 400}, "saturation: a number of more than 40 digits"),
    ({"saturation": float("nan")}, "saturation: nan is not a number from 0 to 2"),
    ({"saturation": 3}, "saturation: 3 is not a number from 0 to 2"),
])
def test_hostile_document_settings_are_named(tmp_path, settings, fragment):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"document": {"settings": settings}}))
    with pytest.raises(DocumentError) as err:
        Document.load(path)
    assert fragment in str(err.value) and len(str(err.value)) < 300, str(err.value)


def test_a_file_over_the_size_cap_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(hints_module, "MAX_FILE_BYTES", 4096)
    parsed = []
    monkeypatch.setattr(hints_module.json, "loads", lambda *a, **k: parsed.append(1))
    path = _hints(tmp_path, json.dumps({"points": [{"x": 1, "y": 2, "color": "red"}] * 200}))
    assert path.stat().st_size > 4096
    with pytest.raises(HintsError, match=r"h\.json is too large for a hints file \(more than 0 MB\)|too large"):
        Hints.load(path)
    with pytest.raises(DocumentError, match="too large for a Colorstudio document"):
        Document.load(path)
    assert not parsed


def test_a_file_under_the_cap_still_loads(tmp_path):
    points = [{"x": i % 100, "y": i // 100, "color": "#c86432"} for i in range(20_000)]
    path = _hints(tmp_path, json.dumps({"points": points}))
    assert path.stat().st_size < hints_module.MAX_FILE_BYTES
    assert len(Hints.load(path).points) == 20_000
