"""MicroAST faithfulness: our engine against the authors' own code, on the real weights.

    python bench/bench_microast_faithful.py --authors /path/to/MicroAST [--weights DIR]

``--authors`` is a folder holding the authors' ``net_microAST.py`` and ``function.py``
(repository EndyWon/MicroAST; never copied into this repository). Without it, or when those
files are not there, the script says so and exits 0 (nothing measured).

As in the authors' ``test_microAST.py``: the content at its own size, the style picture
with its short side at 512 px (``transforms.Resize(512)`` on the PIL picture, then
``ToTensor``), ``TestNet(content, style, alpha=1)``, saved as 8-bit the way
``torchvision.utils.save_image`` does (x * 255 + 0.5, clamped, truncated). torchvision is not
a dependency of Colorstudio: when it can be imported its transforms are used, otherwise the
same steps with Pillow (``Image.resize(size, BILINEAR)`` with the long side
``int(512 * long / short)``), and the table says which.

The content: Colorstudio stylizes the photo's lightness, so each shared photo is made grey
(its L as an 8-bit grey RGB picture, saved to a temporary PNG) and both sides read that
file: the authors' code through their preprocessing, ours through ``open_image`` and the
engine's render path (``MicroASTEngine.start(L).chroma(quality="render")``, which answers
in CIELAB; converted back to sRGB and quantised like ``save_image``).

Three comparisons per photo x painting, in 0..255:

* network: the same two tensors through our ``MicroASTNet`` and the authors' ``TestNet``;
* fast copy: the same through the copy the engine runs (``inference_copy``: rewritten
  convolutions, channels-last, the grey content as one channel);
* style input: our ``style_tensor`` against the authors' preprocessing of the painting;
* end to end: the 8-bit picture our engine gives against the authors' 8-bit output.

Writes ``bench/results/microast_faithful.md`` (``bench_style.py`` copies it into style.md).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import PHOTOS, table, write_results  # noqa: E402

STYLES = ROOT.parent / "shared" / "data" / "styles"
WEIGHTS = ROOT.parent / "shared" / "models" / "microast"
PAIRS = (("kodim05.png", "woman_with_hat_matisse.jpg"), ("kodim23.png", "mondrian.jpg"),
         ("old_tom_morris_bw.png", "contrast_of_forms.jpg"))
PARTS = {"content_encoder": "content_encoder_iter_160000.pth.tar",
         "style_encoder": "style_encoder_iter_160000.pth.tar",
         "modulator": "modulator_iter_160000.pth.tar",
         "decoder": "decoder_iter_160000.pth.tar"}


def load_authors(folder: Path):
    """The authors' ``net_microAST`` module, imported from ``folder`` (with its ``function``)."""
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("net_microAST", folder / "net_microAST.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def authors_network(mod, weights: Path):
    import torch
    parts = {}
    for name, cls in (("content_encoder", mod.Encoder), ("style_encoder", mod.Encoder),
                      ("modulator", mod.Modulator), ("decoder", mod.Decoder)):
        m = cls()
        m.eval()
        m.load_state_dict(torch.load(weights / PARTS[name], map_location="cpu", weights_only=True))
        parts[name] = m
    return mod.TestNet(parts["content_encoder"], parts["style_encoder"], parts["modulator"], parts["decoder"]).eval()


def authors_transform(size: int):
    """The authors' ``test_transform(size, crop=False)``: torchvision when importable, else Pillow."""
    import torch
    try:
        from torchvision import transforms
        steps = ([transforms.Resize(size)] if size else []) + [transforms.ToTensor()]
        return transforms.Compose(steps), "torchvision"
    except Exception:   # not installed, or an install that does not match this torch
        pass
    from PIL import Image

    def tf(im):
        if size:
            w, h = im.size
            short, long = (w, h) if w <= h else (h, w)
            if short != size:
                new = (size, int(size * long / short))
                im = im.resize(new if w <= h else new[::-1], Image.Resampling.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().div(255.0)
    return tf, "Pillow (torchvision not importable)"


def to_u8(rgb) -> np.ndarray:
    """``save_image``'s quantisation of a (1, 3, h, w) or (3, h, w) tensor: (h, w, 3) uint8."""
    t = rgb[0] if rgb.dim() == 4 else rgb
    return t.mul(255).add_(0.5).clamp_(0, 255).to(dtype=__import__("torch").uint8).permute(1, 2, 0).numpy()


def grey_png(photo: Path, folder: Path) -> Path:
    """The photo's L as an 8-bit grey RGB PNG (what both sides read)."""
    from PIL import Image

    from colorstudio.core.image import open_image
    from colorstudio.engines._style import grey_rgb
    g = grey_rgb(open_image(photo).lightness)[0, 0].numpy()
    u8 = np.clip(np.rint(g * 255.0), 0, 255).astype(np.uint8)
    out = folder / (photo.stem + "_grey.png")
    Image.fromarray(np.dstack([u8] * 3), "RGB").save(out)
    return out


def compare(authors: Path, weights: Path) -> tuple[list, str]:
    import torch
    from PIL import Image

    from colorstudio.core.color import lab_to_rgb
    from colorstudio.core.image import open_image
    from colorstudio.core.reference import load_reference
    from colorstudio.engines._microast import MicroASTEngine
    from colorstudio.engines._style import style_tensor
    mod = load_authors(authors)
    theirs = authors_network(mod, weights)
    content_tf, how = authors_transform(0)
    style_tf, _ = authors_transform(512)
    engine = MicroASTEngine(weights=weights, device="cpu")
    engine.load()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for photo_name, style_name in PAIRS:
            photo, style = PHOTOS / photo_name, STYLES / style_name
            grey = grey_png(photo, Path(tmp))
            with Image.open(grey) as im:
                content = content_tf(im.convert("RGB"))[None]
            with Image.open(style) as im:
                st = style_tf(im.convert("RGB"))[None]
            with torch.inference_mode():
                ref_out = theirs(content, st, 1.0)
                net_out = engine.net(content, st, 1.0)
                fast_out = engine.fast(content[:, :1].contiguous(memory_format=torch.channels_last),
                                       st.contiguous(memory_format=torch.channels_last), 1.0)
            ref8 = to_u8(ref_out)
            net_d = (net_out - ref_out[..., :net_out.shape[2], :net_out.shape[3]]).abs() * 255
            fast_d = (fast_out - ref_out[..., :fast_out.shape[2], :fast_out.shape[3]]).abs() * 255
            ours_st = style_tensor(load_reference(style).rgb)
            st_d = ((ours_st - st).abs() * 255).max().item() if ours_st.shape == st.shape else float("nan")
            L = open_image(grey).lightness
            chroma = engine.start(L).chroma(None, quality="render", references=(load_reference(style),))
            lab = np.dstack([chroma.painted_lightness, chroma.ab])
            ours = torch.from_numpy(np.ascontiguousarray(lab_to_rgb(lab).transpose(2, 0, 1)))
            ours8 = to_u8(ours)
            h, w = ours8.shape[:2]
            d = np.abs(ours8.astype(np.int16) - ref8[:h, :w].astype(np.int16))
            rows.append([f"{photo_name} ({w}x{h}) x {style_name} ({st.shape[3]}x{st.shape[2]})",
                         f"{net_d.max().item():.4f} / {net_d.mean().item():.5f}",
                         f"{fast_d.max().item():.4f} / {fast_d.mean().item():.5f}",
                         f"{st_d:.0f}",
                         f"{int(d.max())} / {d.mean():.4f}",
                         f"{100.0 * (d > 1).mean():.3f} %",
                         "same" if ref8.shape[:2] == (h, w) else f"theirs {ref8.shape[1]}x{ref8.shape[0]}"])
            print(rows[-1], flush=True)
    return rows, how


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--authors", help="folder with the authors' net_microAST.py and function.py")
    ap.add_argument("--weights", default=str(WEIGHTS), help="folder with the four published weight files")
    args = ap.parse_args()
    authors = Path(args.authors).expanduser() if args.authors else None
    if authors is None or not (authors / "net_microAST.py").is_file() or not (authors / "function.py").is_file():
        print("skipped: give --authors, a folder holding the authors' net_microAST.py and function.py "
              "(repository EndyWon/MicroAST); nothing was measured")
        return 0
    weights = Path(args.weights).expanduser()
    if not all((weights / f).is_file() for f in PARTS.values()):
        print(f"skipped: the four published MicroAST weight files are not in {weights}; nothing was measured")
        return 0
    import torch
    torch.set_num_threads(2)
    rows, how = compare(authors, weights)
    body = (f"The authors' code (EndyWon/MicroAST `net_microAST.py`, `function.py`; not in this repository) "
            f"against ours on the published weights, on the CPU, float32. Authors' preprocessing through {how}: "
            f"content at its own size (the photo's L as an 8-bit grey RGB PNG), style short side 512 px. "
            f"Differences in 0..255 (max / mean).\n\n"
            + table(["photo x painting (style as fed)", "network, same tensors", "fast copy, same tensors",
                     "style input max",
                     "end to end, 8-bit", "pixels off by > 1", "output size"], rows)
            + "\n\nEnd to end includes our answer's trip through CIELAB (the engine answers L, a*, b*) and the "
              "photo's L read back from the grey PNG.")
    write_results("microast_faithful", "MicroAST faithfulness (ours vs the authors' code)", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
