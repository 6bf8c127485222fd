"""The README works in a clone: every link and image is a public URL or a file in the repository."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_links_stay_inside_the_repository():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)                # [text](target), ![alt](target)
    targets += re.findall(r"`(\.\./[^`]*)`", text)                # a path written as code
    assert targets, "README.md has no links at all (the screenshot at least)"
    for target in targets:
        if re.match(r"https?://", target):
            continue
        path = (REPO / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO), f"README.md points outside the repository: {target}"
        assert path.exists(), f"README.md points at a file that does not exist: {target}"
    assert (REPO / "docs" / "screenshot.png").is_file()
