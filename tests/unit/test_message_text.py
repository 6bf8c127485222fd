"""Messages in the window start with a capital, but a file name at the start stays as named."""
import pytest

from colorstudio.gui.text import as_sentence


@pytest.mark.parametrize("text, shown", [
    ("could not read the photo", "Could not read the photo"),
    ("the disk is full", "The disk is full"),
    ("bad.jpg is not an image", "bad.jpg is not an image"),
    ("h.json is not valid JSON (line 2)", "h.json is not valid JSON (line 2)"),
    ("h.json: points[0].x: NaN is not a number", "h.json: points[0].x: NaN is not a number"),
    ("/tmp/x.png does not exist", "/tmp/x.png does not exist"),
    ("IMG_0042 is not an image", "IMG_0042 is not an image"),
    ("scan-01.tif is truncated", "scan-01.tif is truncated"),
    ("eccv16: not installed", "eccv16: not installed"),
    ("", ""),
    ("automatic mode needs a model", "Automatic mode needs a model"),
])
def test_only_an_ordinary_first_word_is_capitalised(text, shown):
    assert as_sentence(text) == shown
