"""Batch throughput: photos per minute against just decoding and encoding the same files.

A set of photos is generated from ../shared/data/photos into a temporary folder (1 to 12
megapixels, grey and colour sources, 8 and 16 bit, PNG, TIFF and JPEG), each with a saved
edit document of hints, and colorized in document mode with the propagation engine. The
reference, measured in the same run on the same files: decode each photo (``open_image``)
and encode a picture of its size in the output format (``write_image``), on the same
number of threads. Each phase runs in its own process so its peak RSS is its own.

Targets (issue 11): batch time <= 1.5x the decode+encode reference; peak RSS <= 2 GB.
The same on a 2-worker local Ray when Ray is installed (its overhead against one machine).

    python bench/bench_batch.py [--photos 24] [--jobs 2] [--no-ray]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import PHOTOS, machine_description, table, write_results  # noqa: E402

SIZES_MP = (1, 3, 6, 12)


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                keep = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16", "avx_ne_convert"]
                return " ".join(f for f in keep if f in flags) or "(none of the AVX family)"
    except OSError:
        pass
    return "unknown"


def generate(folder: Path, count: int, autosave: Path) -> int:
    import numpy as np
    import tifffile
    from PIL import Image

    from colorstudio.core.document import AutosaveStore, Document, PhotoRef
    from colorstudio.core.hints import Hints, PointHint
    from colorstudio.core.image import open_image
    bases = sorted(PHOTOS.glob("*.png"))
    store = AutosaveStore(autosave)
    pixels = 0
    for i in range(count):
        mp = SIZES_MP[i % len(SIZES_MP)]
        base = Image.open(bases[i % len(bases)]).convert("RGB")
        w = int((mp * 1e6 * base.width / base.height) ** 0.5)
        h = int(mp * 1e6 / w)
        im = base.resize((w, h), Image.BILINEAR)
        grey = i % 2 == 0
        if grey:
            im = im.convert("L")
        kind = ("png", "tif", "jpg")[i % 3]
        deep = kind != "jpg" and (i // 2) % 2 == 1
        path = folder / f"p{i:03d}.{kind}"
        if deep:
            a = np.asarray(im, np.uint16) * 257
            if kind == "tif":
                tifffile.imwrite(path, a, photometric="minisblack" if grey else "rgb", compression="zlib")
            else:
                Image.fromarray(a if grey else a[..., 0]).save(path)  # Pillow writes 16-bit grey PNG only
        else:
            im.save(path, **({"quality": 90} if kind == "jpg" else {}))
        photo = open_image(path)
        pts = tuple(PointHint(photo.width * fx, photo.height * fy, c, 12)
                    for fx, fy, c in ((0.2, 0.3, "#c86432"), (0.8, 0.3, "#3366aa"), (0.5, 0.8, "#55aa44")))
        store.save(Document(hints=Hints(points=pts, image_size=photo.size),
                            photo=PhotoRef(str(path), photo.content_hash, photo.width, photo.height)))
        pixels += photo.width * photo.height
    return pixels


def phase_reference(src: Path, out: Path, jobs: int) -> dict:
    """Decode each photo and encode a picture of its size in its output format, on ``jobs`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from colorstudio.core.batch.plan import output_rel
    from colorstudio.core.export import write_image
    from colorstudio.core.image import open_image
    out.mkdir(parents=True, exist_ok=True)

    def one(path: Path):
        photo = open_image(path)
        g = photo.gray_u8()
        rgb = np.repeat(g[..., None], 3, axis=2)
        if photo.bit_depth == 16:
            rgb = rgb.astype(np.uint16) * 257
        write_image(out / output_rel(path.name, "same"), rgb, source=photo, overwrite=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, sorted(p for p in src.iterdir() if p.is_file())))
    return {"seconds": time.perf_counter() - t0}


def phase_batch(src: Path, out: Path, autosave: Path, jobs: int, cluster: str | None) -> dict:
    from colorstudio.core.batch import BatchSettings, run_batch
    if cluster:
        import ray
        ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}})
    t0 = time.perf_counter()
    s = run_batch(src, out, BatchSettings(mode="document", autosave=str(autosave)), jobs=jobs, cluster=cluster)
    seconds = time.perf_counter() - t0
    assert s.counts["done"] > 0 and s.failed == 0, s.counts
    return {"seconds": seconds, "done": s.counts["done"]}


def child(args) -> None:
    src, out, autosave = Path(args.src), Path(args.out), Path(args.autosave)
    if args.phase == "reference":
        res = phase_reference(src, out, args.jobs)
    else:
        res = phase_batch(src, out, autosave, args.jobs, "ray" if args.phase == "ray" else None)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def run_phase(phase: str, tmp: Path, jobs: int) -> dict:
    cmd = [sys.executable, __file__, "--child", phase, "--src", str(tmp / "src"), "--out", str(tmp / f"out-{phase}"),
           "--autosave", str(tmp / "autosave"), "--jobs", str(jobs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--child", dest="phase", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--src"), ap.add_argument("--out"), ap.add_argument("--autosave")
    args = ap.parse_args()
    if args.phase:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as d:
        tmp = Path(d)
        (tmp / "src").mkdir()
        t0 = time.perf_counter()
        pixels = generate(tmp / "src", args.photos, tmp / "autosave")
        print(f"generated {args.photos} photos, {pixels / 1e6:.0f} MP in all, in {time.perf_counter() - t0:.0f} s",
              flush=True)
        ref = run_phase("reference", tmp, args.jobs)
        print(f"reference {ref}", flush=True)
        bat = run_phase("batch", tmp, args.jobs)
        print(f"batch {bat}", flush=True)
        rows = [["decode + encode only (reference)", f"{args.photos / ref['seconds'] * 60:.1f}", f"{ref['seconds']:.1f}",
                 "1.00", f"{ref['peak_rss_mb']:.0f}"],
                [f"batch, document mode, propagation, --jobs {args.jobs}", f"{args.photos / bat['seconds'] * 60:.1f}",
                 f"{bat['seconds']:.1f}", f"{bat['seconds'] / ref['seconds']:.2f}", f"{bat['peak_rss_mb']:.0f}"]]
        notes = []
        try:
            if args.no_ray:
                raise ImportError("--no-ray")
            import ray  # noqa: F401
            rr = run_phase("ray", tmp, args.jobs)
            print(f"ray {rr}", flush=True)
            rows.append([f"batch on local Ray, {args.jobs} actors", f"{args.photos / rr['seconds'] * 60:.1f}",
                         f"{rr['seconds']:.1f}", f"{rr['seconds'] / ref['seconds']:.2f}",
                         f"{rr['peak_rss_mb']:.0f} (driver only)"])
            notes.append(f"Ray overhead against one machine: {rr['seconds'] / bat['seconds']:.2f}x the batch's time "
                         "(includes starting Ray and its actors).")
        except ImportError as exc:
            notes.append(f"Ray not measured: {exc}.")
    body = (f"{args.photos} photos generated from shared/data/photos ({pixels / 1e6:.0f} MP in all: "
            f"{', '.join(str(m) for m in SIZES_MP)} MP, grey and colour, 8 and 16 bit, PNG/TIFF/JPEG), each with a "
            "saved hints document. CPU flags: " + cpu_flags() + "\n\n"
            + table(["run", "photos/min", "seconds", "time vs reference", "peak RSS MB"], rows)
            + "\n\nTargets: batch <= 1.5x the reference; peak RSS <= 2048 MB.\n" + "\n".join(notes))
    print(body)
    write_results("batch", "Batch colorization (bench_batch.py)", body)


if __name__ == "__main__":
    main()
