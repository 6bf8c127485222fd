"""The settled preview and the export of the sample portrait with packaging/screenshot.hints.json,
side by side (issue 9: what you see is what you export).

Writes bench/results/preview_export_pair.png (preview | export, the export shown at the
preview's size) and prints how far apart they are at the preview's size.

    python bench/preview_export_pair.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import colorstudio as cs  # noqa: E402
from colorstudio.core.document import Document  # noqa: E402


def main() -> int:
    photo = cs.open_image(ROOT / "resources" / "sample_portrait.jpg")
    doc = Document.load(ROOT / "packaging" / "screenshot.hints.json")
    session = cs.ColorizeSession(photo)
    preview = np.asarray(session.preview(doc.hints, max_side=1024))
    export = session.render(doc.hints).rgb
    h, w = preview.shape[:2]
    shown = export if export.shape[:2] == (h, w) else np.asarray(
        Image.fromarray(export).resize((w, h), Image.Resampling.BOX))
    diff = np.abs(preview.astype(int) - shown.astype(int))
    sheet = np.concatenate([preview, np.full((h, 8, 3), 255, np.uint8), shown], axis=1)
    out = ROOT / "bench" / "results" / "preview_export_pair.png"
    Image.fromarray(sheet).save(out)
    print(f"photo {photo.width}x{photo.height}, preview {w}x{h}: max difference {diff.max()} levels, "
          f"mean {diff.mean():.3f}; wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
