"""Message text for the window: a sentence starts with a capital, a file name never changes.

Qt-free, so the rule is tested without a display.
"""
from __future__ import annotations

import re

# An ordinary first word: letters only (an apostrophe or hyphen inside), then a space,
# punctuation or the end. "bad.jpg", "h.json:", "/tmp/x.png", "IMG_0042" do not match.
_WORD = re.compile(r"^[a-z][a-z'\-]*(?=$|[\s,;:!?)])")


def as_sentence(text: str) -> str:
    """``text`` with its first letter capitalised, unless it starts with a file name or path.

    Messages such as "bad.jpg is not an image" name the file first; the name is shown as
    the file is named, so only a plain lower-case word is capitalised.
    """
    if text and _WORD.match(text):
        return text[:1].upper() + text[1:]
    return text
