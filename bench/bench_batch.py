"""Batch throughput: photos per minute against just decoding and encoding the same files.

A set of photos is generated from ../shared/data/photos into a temporary folder (1 to 12
megapixels, grey and colour sources, 8 and 16 bit, PNG, TIFF and JPEG), each with a saved
edit document of hints, and colorized in document mode with the propagation engine and
in reference mode with the exemplar engine (documents ignored), each with the CLI's default
pool for ``--jobs`` (worker processes from 24 photos on the CPU) and with ``--threads``. The
reference, measured in the same run on the same files: decode each photo (``open_image``)
and encode a picture of its size in the output format (``write_image``, the same encoder
and level as the batch), on the same number of threads. Each phase runs in its own process;
its peak RSS is the peak of the sum over the phase's process tree (worker processes
included), sampled from /proc every 50 ms. CPU seconds are counted over the clock's span
(not the interpreter's start and imports before it), the workers' included, and say what a
phase costs when other programs share the cores (the load average is recorded too).

Targets (issue 11): batch time <= 1.5x the decode+encode reference; peak RSS <= 2 GB.
The same on a 2-worker local Ray when Ray is installed (its overhead against one machine).

    python bench/bench_batch.py [--photos 48] [--jobs 2] [--rounds 5] [--no-ray] [--no-reference-mode] [--no-threads]

48 photos by default (four of each size, kind and depth): a process's fixed costs (imports,
loading the compiled composer, about 1 s of CPU) weigh a sixth of a 12-photo batch and
little in an archive's; ``--photos 200`` is the issue's set (a quarter of an hour here).

``--rounds`` rounds each run the reference and then every batch; a batch's ratio is the median
of its ratios to the reference of its own round: on a shared machine one run can differ from
the next by 15 % in CPU seconds, and the machine's speed drifts over minutes.
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

    t0, c0 = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, sorted(p for p in src.iterdir() if p.is_file())))
    return {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c0}


def _cpu() -> float:
    """CPU seconds of this process and of its worker processes that have ended."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def phase_reference_same(src: Path, out: Path, autosave: Path, jobs: int, mode: str = "document") -> dict:
    """Decode each photo and encode the very picture the batch writes for it in ``mode``
    (rendered before the clock starts, as the batch renders it), in the same format, on
    ``jobs`` threads.

    The encoder's cost depends on what it encodes: a colour PNG takes about twice the CPU of
    the same photo in grey repeated into three channels (DEFLATE finds the repeats), and
    reference mode's pictures, whose colour varies more within a region than the hints'
    smooth spread, take 10-20 % more than document mode's. So each mode is compared with
    the I/O of its own pictures: what that batch cannot avoid, and the ratio to it is the
    engine's own cost."""
    from concurrent.futures import ThreadPoolExecutor

    from colorstudio.core.batch import step
    from colorstudio.core.batch.plan import output_rel
    from colorstudio.core.batch.run import _tasks
    from colorstudio.core.batch.plan import walk
    from colorstudio.core.export import write_image
    from colorstudio.core.image import open_image
    out.mkdir(parents=True, exist_ok=True)
    settings = batch_settings(mode, autosave)
    runtime = step.EngineCache()
    pictures = {}
    for task in _tasks(walk(src, recursive=False), src, out, "same", None, lambda record: None):
        w = step.colorize(step.load(task, settings), settings, runtime)
        assert w.result is not None, w.record
        pictures[Path(task.source).name] = w.result[:2]
        w.photo = None
    runtime = None

    def one(path: Path):
        photo = open_image(path)
        rgb, alpha = pictures[path.name]
        write_image(out / output_rel(path.name, "same"), rgb, alpha=alpha, source=photo, overwrite=True)

    t0, c0 = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, sorted(p for p in src.iterdir() if p.is_file())))
    # The rendering before the clock is not the reference's: its CPU is left out too.
    return {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c0}


def reference_picture() -> Path:
    return PHOTOS / "kodim23.png"


def batch_settings(mode: str, autosave: Path):
    """The batch's settings for ``mode``: "document" (the saved hints documents, propagation)
    or "reference" (the exemplar engine from :func:`reference_picture`, documents ignored)."""
    from colorstudio.core.batch import BatchSettings
    if mode == "reference":
        return BatchSettings(mode="reference", engine="exemplar", references=(str(reference_picture()),),
                             use_documents=False, autosave=str(autosave))
    return BatchSettings(mode="document", autosave=str(autosave))


def phase_batch(src: Path, out: Path, autosave: Path, jobs: int, cluster: str | None, pool: str = "auto",
                mode: str = "document") -> dict:
    from colorstudio.core.batch import run_batch
    if cluster:
        import ray
        ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}})
    settings = batch_settings(mode, autosave)
    t0, c0 = time.perf_counter(), _cpu()
    s = run_batch(src, out, settings, jobs=jobs, cluster=cluster, pool=pool)
    seconds = time.perf_counter() - t0
    assert s.counts["done"] > 0 and s.failed == 0, s.counts
    # CPU over the same span as the clock, as the references count theirs (not the interpreter's
    # start and the imports before the batch is called).
    return {"seconds": seconds, "done": s.counts["done"], "cpu_s": _cpu() - c0, "pool": s.pool}


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants now (Linux /proc), in KiB."""
    parents, rss = {}, {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            pid = int(status.parent.name)
            parents[pid] = int(fields["PPid"])
            rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
        except (OSError, ValueError, KeyError):
            continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(rss.get(pid, 0) for pid in tree)


class PeakTreeRSS:
    """Samples the process tree's total RSS every ``every`` seconds on a thread."""

    def __init__(self, every: float = 0.05):
        import threading
        self.every, self.peak_kb = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def child(args) -> None:
    src, out, autosave = Path(args.src), Path(args.out), Path(args.autosave)
    with PeakTreeRSS() as peak:
        if args.phase == "reference":
            res = phase_reference(src, out, args.jobs)
        elif args.phase == "same":
            res = phase_reference_same(src, out, autosave, args.jobs)
        elif args.phase == "sameref":
            res = phase_reference_same(src, out, autosave, args.jobs, mode="reference")
        elif args.phase == "ray":
            res = phase_batch(src, out, autosave, args.jobs, "ray")
        elif args.phase == "refmode":
            res = phase_batch(src, out, autosave, args.jobs, None, mode="reference")
        elif args.phase == "refthreads":
            res = phase_batch(src, out, autosave, args.jobs, None, pool="threads", mode="reference")
        elif args.phase == "threads":
            res = phase_batch(src, out, autosave, args.jobs, None, pool="threads")
        else:
            res = phase_batch(src, out, autosave, args.jobs, None)
    # Every phase counts its CPU over its clock's span (cpu_s); the peak covers the whole process.
    res["peak_rss_mb"] = max(peak.peak_kb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
    print(json.dumps(res))


def run_phase(phase: str, tmp: Path, jobs: int) -> dict:
    import shutil
    shutil.rmtree(tmp / f"out-{phase}", ignore_errors=True)   # a second run must not find it done
    cmd = [sys.executable, __file__, "--child", phase, "--src", str(tmp / "src"), "--out", str(tmp / f"out-{phase}"),
           "--autosave", str(tmp / "autosave"), "--jobs", str(jobs)]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["load"] = f"{load:.1f}-{os.getloadavg()[0]:.1f}"
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-reference-mode", action="store_true")
    ap.add_argument("--no-threads", action="store_true", help="skip the --threads rows (the default pool only)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the reference and every batch (medians)")
    ap.add_argument("--child", dest="phase", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--src"), ap.add_argument("--out"), ap.add_argument("--autosave")
    args = ap.parse_args()
    if args.phase:
        child(args)
        return
    n, j = args.photos, args.jobs
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as d:
        tmp = Path(d)
        (tmp / "src").mkdir()
        t0 = time.perf_counter()
        pixels = generate(tmp / "src", n, tmp / "autosave")
        print(f"generated {n} photos, {pixels / 1e6:.0f} MP in all, in {time.perf_counter() - t0:.0f} s", flush=True)
        phases = [("reference", "decode + encode a grey picture of the same size (the earlier reference)"),
                  ("same", "decode + encode the batch's own output pictures (reference for document mode)"),
                  ("batch", f"batch, document mode, propagation, --jobs {j} (the default pool: {{pool}})")]
        if not args.no_threads:
            phases.append(("threads", f"batch, document mode, propagation, --jobs {j} --threads"))
        if not args.no_reference_mode:
            phases.append(("sameref", "decode + encode reference mode's output pictures (reference for reference mode)"))
            phases.append(("refmode", f"batch, reference mode, exemplar, --jobs {j} (the default pool: {{pool}})"))
            if not args.no_threads:
                phases.append(("refthreads", f"batch, reference mode, exemplar, --jobs {j} --threads"))
        notes = []
        try:
            if args.no_ray:
                raise ImportError("--no-ray")
            import ray  # noqa: F401
            phases.append(("ray", f"batch on local Ray, {j} actors, document mode"))
        except ImportError as exc:
            notes.append(f"Ray not measured: {exc}.")
        # Every round runs the reference and then each batch, so each batch is compared with
        # the reference of its own round (the machine's speed drifts over minutes); the grey
        # pictures and Ray run in the first round only.
        repeated = [p for p, _ in phases if p not in ("reference", "ray")]
        runs: dict = {}
        for round_ in range(max(1, args.rounds)):
            for phase, _ in phases:
                if round_ and phase not in repeated:
                    continue
                r = run_phase(phase, tmp, j)
                runs.setdefault(phase, []).append(r)
                print(f"round {round_ + 1} {phase} {r}", flush=True)
    from statistics import median
    res, ratio, cpu_ratio = {}, {}, {}
    for phase, rs in runs.items():
        m = dict(rs[0])
        for key in ("seconds", "cpu_s", "peak_rss_mb"):
            m[key] = float(median([r[key] for r in rs]))
        m["load"] = f"{rs[0]['load'].split('-')[0]}-{rs[-1]['load'].split('-')[-1]}"
        res[phase] = m
        # Reference mode against the I/O of its own pictures (when measured), the rest against
        # document mode's.
        own = "sameref" if phase.startswith("ref") and phase != "reference" and "sameref" in runs else "same"
        pairs = list(zip(rs, runs[own]))
        ratio[phase] = [r["seconds"] / s["seconds"] for r, s in pairs]
        cpu_ratio[phase] = [r["cpu_s"] / s["cpu_s"] for r, s in pairs]
    rounds = len(runs["same"])
    if rounds > 1:
        notes.append(f"{rounds} rounds; each row gives the median over its rounds, and its ratios are the medians "
                     "of its time (CPU) over the reference's in the same round. Time over the reference's, round by "
                     "round: " + "; ".join(f"{p} " + ", ".join(f"{x:.2f}" for x in ratio[p])
                                            for p in repeated if p not in ("same", "sameref")) + ".")
    grey = res["reference"]
    rows = []
    for phase, label in phases:
        r = res[phase]
        rss = f"{r['peak_rss_mb']:.0f}" + (" (whole Ray tree)" if phase == "ray" else "")
        label = label.replace("{pool}", str(r.get("pool", "")))
        rows.append([label, f"{n / r['seconds'] * 60:.1f}", f"{r['seconds']:.1f}", f"{median(ratio[phase]):.2f}",
                     f"{r['seconds'] / grey['seconds']:.2f}", f"{r['cpu_s']:.1f}", f"{median(cpu_ratio[phase]):.2f}",
                     rss, r["load"]])
    if "ray" in res:
        notes.append(f"Ray against one machine: {res['ray']['seconds'] / res['batch']['seconds']:.2f}x the batch's "
                     "time (includes starting Ray and its actors). Not a like-for-like figure on a shared machine: "
                     "Ray's workers run in sessions of their own (scheduler groups of their own), so under load they "
                     "get another share of the cores than the other rows, and their CPU seconds are not counted.")
    body = (f"{n} photos generated from shared/data/photos ({pixels / 1e6:.0f} MP in all: "
            f"{', '.join(str(m) for m in SIZES_MP)} MP, grey and colour, 8 and 16 bit, PNG/TIFF/JPEG), each with a "
            f"saved hints document; reference mode takes its colours from {reference_picture().name}. "
            "CPU flags: " + cpu_flags() + "\n\n"
            + table(["run", "photos/min", "seconds", "time vs reference", "time vs grey pictures", "CPU s",
                     "CPU vs reference", "peak RSS MB (process tree)", "load avg before-after"], rows)
            + "\n\nThe reference decodes each photo and encodes the picture the batch writes for it (rendered before "
            "the clock starts), in the same format: the I/O any batch must do. Each mode has its own: reference "
            "mode's pictures cost the encoder more than document mode's (their colour varies more within a "
            "region), and that is I/O, not the engine; its rows' ratios are to its own reference, and its "
            "'time vs grey pictures' shows it against the grey ones. The earlier reference encoded the "
            "photo's grey repeated into three channels, which DEFLATE compresses in about half the CPU of a colour "
            "picture, so part of the encoder's cost counted as the engine's; both are shown.\n\n"
            "Targets: batch <= 1.5x the reference; peak RSS <= 2048 MB. PNG/TIFF at DEFLATE level 6 in "
            "every run (zlib-ng where installed). With other programs on the cores (see the load), wall times "
            "stretch; CPU seconds do not.\n" + "\n".join(notes))
    print(body)
    # The default set and the 200 photos keep results of their own.
    name = "batch" if n == 48 else f"batch-{n}-photos"
    write_results(name, f"Batch colorization (bench_batch.py{'' if n == 48 else f' --photos {n}'})", body)


if __name__ == "__main__":
    main()
