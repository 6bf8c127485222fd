"""Style mode (MicroAST, the bundled weights): live preview, strength steps, renders, seams.

    python bench/bench_style.py [--sizes 1,12,50] [--skip-sheet]

Measures, on the shared photos and paintings:

* a new style picture to a 512-px preview (style branch + decoder; the photo's content
  features already cached), with 2 and 1 torch threads, wall and CPU time, against the
  authors' whole forward pass (our published-layout network) at the same size measured in
  the same run (ratio of CPU time); and a cold preview (new photo and new style);
* a strength step to the painted preview: ``blend_style`` alone, and ``style_field`` +
  composition at the preview's size and at 1024 px (as the session's preview composes),
  both looks, against fitting the chroma field every step (ratio);
* the faithfulness table of ``bench_microast_faithful.py`` when it has been run;
* full renders at 1, 12 and 50 megapixels, each in a fresh subprocess: engine (stylization
  at up to 4 MP, tiled) + blend + full-resolution composition to 8-bit RGB; wall time and
  peak RSS (``resource.getrusage``);
* seams: a 2-megapixel render tiled vs untiled (max |difference| in 8-bit RGB, 16 px away
  from the borders);
* a contact sheet PNG: photos x paintings at strengths 0, 0.25, 0.5, 0.75, 1 in both looks.

The machine is shared; timings are medians of a few runs.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import PHOTOS, table, write_results  # noqa: E402

STYLES = ROOT.parent / "shared" / "data" / "styles"
SHEET = ROOT / "bench" / "results" / "style_contact_sheet.png"


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                keep = [f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")) or "bf16" in f]
                return " ".join(sorted(set(keep)))
    except OSError:
        pass
    return "unknown"


def photo_lightness(path: Path) -> np.ndarray:
    from colorstudio.core.image import open_image
    return open_image(path).lightness


def median_time(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timed(fn, runs: int = 3) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of this process) of ``fn``."""
    walls, cpus = [], []
    for _ in range(runs):
        c, t = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def live(photo: Path, styles: list[Path]) -> list:
    """New style picture to a 512-px preview (threads 2 and 1), and strength steps."""
    import torch
    from PIL import Image

    from colorstudio.core.compose import chroma_field, compose
    from colorstudio.core.reference import load_reference
    from colorstudio.core.resample import resize_bilinear
    from colorstudio.core.style_blend import blend_style, painted_lightness_full, style_field
    from colorstudio.engines._microast import MicroASTEngine
    from colorstudio.engines._style import grey_rgb, style_tensor
    rows = []
    # the photo at 1024 px, so the preview is a true 512-px one
    L0 = photo_lightness(photo)
    L = np.asarray(Image.fromarray(L0).resize((1024, 1024), Image.Resampling.BILINEAR), np.float32)
    refs = [load_reference(s) for s in styles]
    engine = MicroASTEngine(device="cpu")
    engine.load()
    torch.set_num_threads(2)
    t = time.perf_counter()
    session = engine.start(L)
    chroma = session.chroma(None, quality="preview", references=(refs[0],))
    cold = time.perf_counter() - t
    h, w = chroma.ab.shape[:2]
    rows.append([f"cold preview (new photo, new style), {w}x{h}, 2 threads", f"{cold * 1000:.0f} ms", "", ""])
    for threads in (2, 1):
        torch.set_num_threads(threads)
        order = iter(refs * 4)

        def new_style():
            engine._styles.clear()           # every run: a style picture never seen
            session._results.clear()
            session.chroma(None, quality="preview", references=(next(order),))
        new_style()                          # oneDNN's kernels for these shapes made once
        wall, cpu = timed(new_style, 5)
        content = grey_rgb(chroma.lightness)
        st = style_tensor(refs[1].rgb)
        ref_wall, ref_cpu = timed(lambda: engine.stylize(content, st), 3)
        rows.append([f"new style picture to a {w}x{h} preview, {threads} thread{'s' * (threads > 1)}",
                     f"{wall * 1000:.0f} ms", f"{cpu * 1000:.0f} ms",
                     f"authors' whole forward (published layout) at the same size: {ref_wall * 1000:.0f} ms "
                     f"wall, {ref_cpu * 1000:.0f} ms CPU; ours {ref_cpu / cpu:.2f}x less CPU"])
    # The same, 2 threads, in a fresh process whose OpenMP threads sleep instead of spinning
    # while they wait (OMP_WAIT_POLICY is read when torch starts, so only a new process shows it).
    import os
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    proc = subprocess.run([sys.executable, __file__, "--new-style-child", str(photo), *map(str, styles)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    if proc.returncode == 0:
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append([f"new style picture to a {w}x{h} preview, 2 threads, OMP_WAIT_POLICY=PASSIVE",
                     f"{r['wall'] * 1000:.0f} ms", f"{r['cpu'] * 1000:.0f} ms", "a fresh process"])
    torch.set_num_threads(2)
    blend_wall, _ = timed(lambda: blend_style(chroma.lightness, chroma, 0.6, "painting"), 21)
    rows.append(["strength step: blend_style only", f"{blend_wall * 1000:.2f} ms", "", "no network run"])
    L1024 = resize_bilinear(chroma.lightness, 1024, 1024)
    strengths = iter(np.linspace(0.05, 0.95, 1000))
    for look in ("tones", "painting"):
        for target, Lt in ((f"{w}x{h}", chroma.lightness), ("1024x1024", L1024)):
            def old_step():
                s = next(strengths)
                _, ab = blend_style(chroma.lightness, chroma, s, look)
                Lc = painted_lightness_full(Lt, chroma, s) if look == "painting" else Lt
                compose(Lc, chroma_field(ab, chroma.lightness))

            def new_step():
                s = next(strengths)
                Lc = painted_lightness_full(Lt, chroma, s) if look == "painting" else Lt
                compose(Lc, style_field(chroma, s))
            new_step()
            old_wall, old_cpu = timed(old_step, 9)
            new_wall, new_cpu = timed(new_step, 9)
            rows.append([f"strength step to painted preview, {look}, composed at {target}",
                         f"{new_wall * 1000:.1f} ms", f"{new_cpu * 1000:.1f} ms",
                         f"no network run; fitting the field every step (what session.preview does today): "
                         f"{old_wall * 1000:.1f} ms wall, {old_cpu / new_cpu:.1f}x the CPU"])
    return rows


def new_style_child(photo: str, styles: list[str]) -> dict:
    """Run in a subprocess: a new style picture to a 512-px preview, 2 threads; prints JSON."""
    import torch
    from PIL import Image

    from colorstudio.core.reference import load_reference
    from colorstudio.engines._microast import MicroASTEngine
    torch.set_num_threads(2)
    L0 = photo_lightness(Path(photo))
    L = np.asarray(Image.fromarray(L0).resize((1024, 1024), Image.Resampling.BILINEAR), np.float32)
    refs = [load_reference(s) for s in styles]
    engine = MicroASTEngine(device="cpu")
    engine.load()
    session = engine.start(L)
    session.chroma(None, quality="preview", references=(refs[0],))
    order = iter(refs * 4)

    def new_style():
        engine._styles.clear()
        session._results.clear()
        session.chroma(None, quality="preview", references=(next(order),))
    new_style()
    wall, cpu = timed(new_style, 5)
    return {"wall": wall, "cpu": cpu}


def render_child(mp: float, photo: str, style: str, tile_above: int | None) -> dict:
    """Run in a subprocess: one full render; prints JSON."""
    from PIL import Image

    import torch

    from colorstudio.core.compose import compose
    from colorstudio.core.reference import load_reference
    from colorstudio.core.style_blend import painted_lightness_full, style_field
    from colorstudio.engines._microast import MicroASTEngine
    torch.set_num_threads(2)
    L0 = photo_lightness(Path(photo))
    H0, W0 = L0.shape
    scale = (mp * 1e6 / (H0 * W0)) ** 0.5
    W, H = int(W0 * scale), int(H0 * scale)
    im = Image.fromarray(L0).resize((W, H), Image.Resampling.BILINEAR)
    L = np.asarray(im, np.float32)
    del im
    ref = load_reference(style)
    opts = {} if tile_above is None else {"tile_above": tile_above}
    engine = MicroASTEngine(device="cpu", **opts)
    engine.load()
    t0, c0 = time.perf_counter(), time.process_time()
    chroma = engine.start(L).chroma(None, quality="render", references=(ref,))
    t1, c1 = time.perf_counter(), time.process_time()
    full_L = painted_lightness_full(L, chroma, 1.0)
    out = compose(full_L, style_field(chroma, 1.0))
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    result = {"size": f"{W}x{H}", "work": "x".join(map(str, chroma.ab.shape[1::-1])), "engine_s": t1 - t0, "engine_cpu_s": c1 - c0,
              "compose_s": t2 - t1, "rss_mib": rss}
    if tile_above is not None or mp == 2.0:
        np.save(f"/tmp/style_seam_{tile_above}.npy", out)
        np.save(f"/tmp/style_seam_{tile_above}_lab.npy", np.dstack([chroma.painted_lightness, chroma.ab]))
    return result


def render(mp: float, photo: Path, style: Path, tile_above=None, timeout=300, env=None) -> dict | None:
    import os
    cmd = [sys.executable, __file__, "--child", str(mp), str(photo), str(style), str(tile_above)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def contact_sheet(photos: list[Path], styles: list[Path], cell: int = 150) -> Path:
    from PIL import Image, ImageDraw

    from colorstudio.core.atomic import atomic_path
    from colorstudio.core.color import lab_to_rgb
    from colorstudio.core.reference import load_reference
    from colorstudio.core.style_blend import blend_style
    from colorstudio.engines._microast import MicroASTEngine
    strengths = (0.0, 0.25, 0.5, 0.75, 1.0)
    engine = MicroASTEngine(device="cpu", preview_side=cell * 2)
    cols = 2 + 2 * len(strengths)
    head = 22
    sheet = Image.new("RGB", (cols * cell, head + len(photos) * len(styles) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    labels = ["photo", "style"] + [f"tones {s:g}" for s in strengths] + [f"painting {s:g}" for s in strengths]
    for i, text in enumerate(labels):
        draw.text((i * cell + 4, 5), text, fill="black")

    def fit(rgb: np.ndarray) -> Image.Image:
        im = Image.fromarray(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8))
        im.thumbnail((cell, cell), Image.Resampling.LANCZOS)
        return im

    row = 0
    for p in photos:
        L = photo_lightness(p)
        session = engine.start(L)
        for s in styles:
            ref = load_reference(s)
            c = session.chroma(None, quality="preview", references=(ref,))
            y = head + row * cell
            grey = np.repeat(lab_to_rgb(np.dstack([c.lightness, np.zeros_like(c.ab)]))[..., :1], 3, -1)
            sheet.paste(fit(grey), (0, y))
            sheet.paste(fit(ref.rgb), (cell, y))
            for j, look in enumerate(("tones", "painting")):
                for k, strength in enumerate(strengths):
                    Lb, ab = blend_style(c.lightness, c, strength, look)
                    sheet.paste(fit(lab_to_rgb(np.dstack([Lb, ab]))), ((2 + j * len(strengths) + k) * cell, y))
            row += 1
    with atomic_path(SHEET) as tmp:
        # 256 colours keep the file small enough for the repository; the look is unchanged.
        sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(tmp, format="PNG",
                                                                                              optimize=True)
    return SHEET


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,12,50")
    ap.add_argument("--skip-sheet", action="store_true")
    ap.add_argument("--skip-seams", action="store_true")
    ap.add_argument("--new-style-child", nargs="+")
    ap.add_argument("--child", nargs=4)
    args = ap.parse_args()
    if args.new_style_child:
        print(json.dumps(new_style_child(args.new_style_child[0], args.new_style_child[1:])))
        return 0
    if args.child:
        mp, photo, style, tile = args.child
        print(json.dumps(render_child(float(mp), photo, style, None if tile == "None" else int(tile))))
        return 0
    photos = sorted(PHOTOS.glob("*.png"))
    styles = sorted(p for p in STYLES.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    photo = PHOTOS / "kodim05.png"
    body = []
    import os
    body.append(f"Load average at the start: {os.getloadavg()[0]:.1f} (2 cores shared with other agents; "
                f"CPU time is this process's own, less sensitive to the load than wall time).")
    body.append("")
    faithful = ROOT / "bench" / "results" / "microast_faithful.md"
    if faithful.is_file():
        text = faithful.read_text().split("\n", 3)[-1].strip()
        body += ["### Faithfulness (from bench/bench_microast_faithful.py)", "", text, ""]
    rows = live(photo, styles)
    body += ["### Live", "", table(["what", "wall", "CPU", "note"], rows), ""]
    print(body[-2])
    rrows = []
    runs = [(float(s), None) for s in args.sizes.split(",") if s]
    if 1.0 in [mp for mp, _ in runs]:
        runs.insert(1, (1.0, {"OMP_WAIT_POLICY": "PASSIVE"}))
    for mp, env in runs:
        r = render(mp, photo, styles[1], env=env)
        label = f"{mp:g} MP" + (", OMP_WAIT_POLICY=PASSIVE" if env else "")
        if r is None:
            rrows.append([label, "did not finish within 5 minutes", "", "", "", ""])
        else:
            rrows.append([f"{label} ({r['size']})", r["work"], f"{r['engine_s']:.1f} s", f"{r['engine_cpu_s']:.1f} s",
                          f"{r['compose_s']:.1f} s", f"{r['rss_mib']:.0f} MiB"])
        print(rrows[-1], flush=True)
    body += ["### Full renders (full painting look, strength 1; a fresh process each)", "",
             table(["photo", "stylized at", "engine", "engine CPU", "blend + compose", "peak RSS"], rrows), ""]
    tiled = whole = None
    if not args.skip_seams:
        tiled = render(2.0, photo, styles[1], tile_above=0)
        whole = render(2.0, photo, styles[1], tile_above=10**9)
    if tiled and whole:
        a = np.load("/tmp/style_seam_0.npy").astype(np.int16)
        b = np.load(f"/tmp/style_seam_{10**9}.npy").astype(np.int16)
        inner = np.abs(a - b)[16:-16, 16:-16]
        lab = np.abs(np.load("/tmp/style_seam_0_lab.npy") - np.load(f"/tmp/style_seam_{10**9}_lab.npy"))
        differ = np.abs(a - b).max(-1) > 0
        ys, xs = np.nonzero(differ)
        near = int(((np.minimum(ys % 512, 512 - ys % 512) < 8) | (np.minimum(xs % 512, 512 - xs % 512) < 8)).sum())
        body += ["### Seams", "",
                 f"2-megapixel render ({tiled['size']}) in 512-px tiles with a 32-px margin vs untiled: "
                 f"the engine's answers differ by at most {lab[..., 0].max():.5f} in L and {lab[..., 1:].max():.5f} "
                 f"in a*/b* (float rounding: channels-last kernels on tiles and on the whole map); composed to "
                 f"8 bits, max |difference| {int(inner.max())}/255 away from the borders "
                 f"({int((inner > 0).sum())} of {inner[..., 0].size} pixels differ by any amount, {near} of them "
                 f"within 8 px of a tile edge, {int((inner > 1).sum())} by more than 1: scattered rounding, "
                 f"no seam); "
                 f"untiled peak RSS {whole['rss_mib']:.0f} MiB, tiled {tiled['rss_mib']:.0f} MiB.", ""]
        print(body[-2])
    if not args.skip_sheet:
        pick = [p for p in photos if p.name in ("kodim05.png", "kodim23.png", "old_tom_morris_bw.png")] or photos[:3]
        sheet = contact_sheet(pick, styles)
        body += ["### Contact sheet", "", f"`{sheet.relative_to(ROOT)}`: {', '.join(p.name for p in pick)} x "
                 f"{', '.join(s.name for s in styles)}; columns: the grey photo, the painting, then strengths "
                 f"0, 0.25, 0.5, 0.75, 1 with the photo's tones, then the same as a full painting.", ""]
    write_results("style", "Style (MicroAST, bundled weights)", "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
