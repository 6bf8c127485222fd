"""`colorstudio batch SOURCE_DIR OUTPUT_DIR ...`: colorize a folder of photos.

The main CLI registers this with ``add_parser(subparsers)`` and calls ``args.batch_run(args)``.
Exit status: 0 every photo done, up to date or skipped for a stated reason; 3 the batch ran to
the end but some photos failed (the manifest and --report say which and why; 3, not 2,
because 2 means the command itself was wrong and nothing ran); 2 the batch could not start
(bad arguments, an output folder inside the source, another batch on the same folder);
1 an internal error; 130 interrupted (the photos finished so far are recorded).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Optional, TextIO

from .run import AUTO_JOBS_MAX, AUTO_PROCESSES_FROM
from .step import GPU_TOGETHER, MAX_TOGETHER

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_SOME_FAILED = 0, 1, 2, 3

EPILOG = """\
examples:
  colorstudio batch scans/ colour/ --recursive --mode document
  colorstudio batch scans/ colour/ --mode auto --format tiff --jobs 2 --report report.csv
  colorstudio batch scans/ colour/ --retry-failed
  colorstudio batch scans/ colour/ --cluster ray:head-node:6379

exit status: 0 all done (or up to date, or skipped with a reason); 3 some photos failed (see
the manifest or --report); 2 the batch could not start; 1 internal error.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``batch`` command on an argparse subparsers object."""
    from ...cliparse import number
    from ..spec import SATURATION
    from .plan import OUTPUT_FORMATS
    from .step import MODES
    whole = number(1, 256, integer=True, what="auto or a whole number")

    def _jobs(text: str) -> Optional[int]:
        """``--jobs``: "auto" (None: the batch decides) or a whole number from 1 to 256."""
        return None if text.strip().lower() == "auto" else whole(text)
    p = subparsers.add_parser(
        "batch", help="colorize a folder of photos (resumable; sources never written)",
        description="Colorize every photo in SOURCE_DIR into OUTPUT_DIR, mirroring its folders. "
                    "A photo with a saved edit document (made in the app) is rendered with it; the "
                    "others with --mode. A manifest in OUTPUT_DIR records every photo, so running "
                    "the same command again does only what changed, after a crash too. Nothing is "
                    "ever written inside SOURCE_DIR.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE_DIR", help="the folder of photos (never written to)")
    p.add_argument("output", metavar="OUTPUT_DIR", help="where the results go (created if missing; not inside SOURCE_DIR)")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="how photos without a saved edit document are colorized: auto (a neural network, "
                        "needs an installed model), hints/document (only photos with a saved document), "
                        "reference, palette or style (need --reference); default auto")
    p.add_argument("--reference", action="append", metavar="REF", default=[],
                   help="a reference picture for reference, palette or style mode (repeat for several)")
    p.add_argument("--recursive", "-r", action="store_true", help="also colorize the photos in subfolders")
    p.add_argument("--format", dest="fmt", choices=OUTPUT_FORMATS, default="same",
                   help="output format: same (as the source where Colorstudio writes it, else PNG), png, "
                        "tiff (16-bit stays 16-bit) or jpeg; default same")
    p.add_argument("--quality", type=number(1, 100, integer=True), default=95, metavar="N",
                   help="JPEG quality 1-100 (default 95)")
    p.add_argument("--compression", type=number(0, 9, integer=True), default=6, metavar="N",
                   help="PNG and TIFF compression 0-9: 1 writes several times faster with files about a "
                        "sixth larger, 9 the smallest; the pixels are the same (default 6)")
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help="photos colorized at once (each worker holds its own engines); default auto: one "
                        f"per core (at most {AUTO_JOBS_MAX}, one per GB of free memory), one where a network "
                        "may run on a GPU, one per CPU of a --cluster")
    pools = p.add_mutually_exclusive_group()
    pools.add_argument("--processes", action="store_true",
                       help="run the --jobs workers as separate processes, each doing whole photos (the default "
                            f"from {AUTO_PROCESSES_FROM} photos with --jobs 2 or more and an engine on the CPU)")
    pools.add_argument("--threads", action="store_true",
                       help="run the --jobs workers as threads of this process (the default for fewer photos, "
                            "one job, or an engine that may use a GPU)")
    p.add_argument("--together", type=number(1, MAX_TOGETHER, integer=True), default=None, metavar="N",
                   help="photos of one size that go through a network in one pass (default: "
                        f"{GPU_TOGETHER} where the network may run on a GPU, else 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files in OUTPUT_DIR that this batch did not make (its own are always updated)")
    p.add_argument("--dry-run", action="store_true", help="say what would be done; write nothing")
    p.add_argument("--engine", metavar="NAME", default=None, help="the engine for --mode (default: the best installed)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where neural engines run (default auto)")
    p.add_argument("--saturation", default=SATURATION.default, metavar="X",
                   type=number(SATURATION.minimum, SATURATION.maximum, validate=SATURATION.validate),
                   help="colour strength for photos without a document: 0 grey, 1 as computed, up to 2")
    p.add_argument("--retry-failed", action="store_true", help="retry only the photos that failed last time")
    p.add_argument("--report", metavar="CSV", help="also write the manifest as a CSV file")
    p.add_argument("--json", action="store_true", help="print one JSON line per photo and a summary line")
    p.add_argument("--sign", nargs=2, metavar=("CERT", "KEY"),
                   help="add C2PA Content Credentials signed with this certificate chain and private key (PEM)")
    p.add_argument("--cluster", metavar="ray[:ADDRESS]",
                   help="run the photos on Ray (pip install 'colorstudio[cluster]'); ray alone starts a local one")
    p.add_argument("--autosave", metavar="FOLDER", default=None, help=argparse.SUPPRESS)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(batch_run=run)
    return p


class _Progress:
    """A rich progress bar on a terminal (done/total, current file, photos per minute, ETA)."""

    def __init__(self, stream: TextIO):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        self.t0 = time.perf_counter()
        self.progress = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[current]}"),
                                 console=Console(file=stream), transient=False)
        self.task = None
        self.done = 0

    def start(self, total: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("batch", total=total, rate="", current="")

    def record(self, record: dict) -> None:
        if self.task is None or record.get("status") == "skipped" and "output" not in record:
            return
        self.done += 1
        minutes = (time.perf_counter() - self.t0) / 60
        rate = f"{self.done / minutes:.1f} photos/min" if minutes > 0 else ""
        self.progress.update(self.task, advance=1, rate=rate, current=record["source"][-40:])

    def stop(self) -> None:
        self.progress.stop()


def run(args: argparse.Namespace, *, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Carry out a parsed ``batch`` command; returns the exit status."""
    from .plan import BatchError
    from .run import run_batch
    from .step import BatchSettings, describe_error
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if not 0.0 <= args.saturation <= 2.0:
            raise BatchError("--saturation must be between 0 and 2")
        cluster = _cluster(args.cluster)
        if args.report:
            rsrc, report = Path(args.source).resolve(), Path(args.report).resolve()
            if report == rsrc or rsrc in report.parents:
                raise BatchError(f"the report {args.report} would be inside the source folder; Colorstudio never "
                                 "writes there, choose another place")
        settings = BatchSettings(mode=args.mode, engine=args.engine, device=args.device, fmt=args.fmt,
                                 quality=args.quality, compress_level=args.compression,
                                 saturation=args.saturation,
                                 references=tuple(args.reference), autosave=args.autosave,
                                 overwrite=args.overwrite, sign=tuple(args.sign) if args.sign else None,
                                 together=args.together)
        bar = _Progress(err) if (err.isatty() and not args.json and not args.dry_run) else None

        def on_record(record: dict) -> None:
            if args.json:
                print(json.dumps({k: v for k, v in record.items() if v is not None}, sort_keys=True), file=out,
                      flush=True)
            elif args.dry_run and record.get("status") in ("planned", "failed"):
                what = "would colorize" if record["status"] == "planned" else f"cannot do ({record['error']})"
                print(f"{record['source']}: {what}", file=out)
            if bar is not None:
                bar.record(record)

        try:
            summary = run_batch(args.source, args.output, settings, recursive=args.recursive, jobs=args.jobs,
                                dry_run=args.dry_run, retry_failed=args.retry_failed, on_record=on_record,
                                on_start=bar.start if bar is not None else None, cluster=cluster,
                                pool="processes" if args.processes else "threads" if args.threads else "auto")
        finally:
            if bar is not None:
                bar.stop()
        if args.report and not args.dry_run:
            _write_report(Path(args.report), summary.manifest)
        if args.json:
            print(json.dumps({"summary": summary.counts, "total": summary.total, "manifest": str(summary.manifest),
                              "seconds": round(summary.seconds, 3), "dry_run": summary.dry_run,
                              "pool": summary.pool, "jobs": summary.jobs}), file=out)
        print(f"colorstudio batch: {summary.sentence()}", file=err)
        if summary.failed and not args.dry_run:
            print(f"colorstudio batch: {summary.failed} photos failed; see the manifest or --report, fix them, "
                  "and run again with --retry-failed", file=err)
            return EXIT_SOME_FAILED
        return EXIT_OK
    except BatchError as exc:
        print(f"colorstudio batch: {exc}", file=err)
        return EXIT_USER
    except KeyboardInterrupt:
        print("\ncolorstudio batch: interrupted; the photos finished so far are recorded, run the same command "
              "again to go on", file=err)
        return 130
    except Exception as exc:  # noqa: BLE001
        if getattr(args, "debug", False):
            raise
        text = describe_error(exc)
        user = not text.startswith("internal error")
        print(f"colorstudio batch: {text}", file=err)
        return EXIT_USER if user else EXIT_INTERNAL


def _cluster(value: Optional[str]) -> Optional[str]:
    from .plan import BatchError
    if not value:
        return None
    if value != "ray" and not value.startswith("ray:"):
        raise BatchError(f"--cluster must be ray or ray:ADDRESS, not {value!r}")
    return value


def _write_report(path: Path, manifest_path: Path) -> None:
    """The manifest as CSV, written atomically."""
    import io
    from ..atomic import atomic_write_text
    from .manifest import COLUMNS, Manifest
    m = Manifest(manifest_path, readonly=True)
    try:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for row in m.rows():
            w.writerow(row)
    finally:
        m.close()
    atomic_write_text(path, buf.getvalue())
