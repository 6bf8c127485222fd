"""`colorstudio models ...`: list, install, import, remove, path.

The main CLI registers this with ``add_parser(subparsers)`` and calls ``run(args)`` for the
``models`` command. Exit codes: 0 done, 2 something the user can fix (the message says
what), 1 an internal error. Errors are one sentence on stderr.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence, TextIO

from ..cliparse import number
from .errors import ModelCancelled, ModelError
from .registry import MODELS

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``models`` command (and its sub-commands) on an argparse subparsers object."""
    names = ", ".join(MODELS)
    parser = subparsers.add_parser(
        "models", help="list, install, import or remove neural-network weights",
        description="Manage the neural-network weights the neural engines use. Weights are "
                    "downloaded only when you ask, checked against their published checksums, "
                    "and read safely (never as code). Known models: " + names + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="models_command", metavar="{list,install,import,remove,path}")
    sub.required = True

    p = sub.add_parser("list", help="show every known model, whether it is installed, where and how big",
                       description="Show every known model: installed or not, its file, size, "
                                   "licence and what it is for.")
    p.add_argument("--verbose", "-v", action="store_true", help="also show the download address and citation")

    p = sub.add_parser("install", help="download a model (resumable, checked)",
                       description="Download a model's published weights into the models folder, "
                                   "with a progress bar. An interrupted download resumes where it "
                                   "stopped the next time. The file is checked against its published "
                                   "SHA-256 before it is used.")
    p.add_argument("name", metavar="NAME", help=f"the model to download ({names})")
    p.add_argument("--timeout", type=number(0, 86400, above=True, what="a number of seconds"),
                   default=30.0, metavar="SECONDS",
                   help="give up when the server is silent this long (default 30)")
    p.add_argument("--url", default=None, help="download from this address instead (a mirror)")
    p.add_argument("--force", action="store_true", help="download again even if an intact copy is installed")

    p = sub.add_parser("import", help="install a model from a file you downloaded elsewhere",
                       description="Install a model from a file (for machines without network "
                                   "access). The file is checked against the published checksum and "
                                   "loaded safely before it is copied into the models folder.")
    p.add_argument("name", metavar="NAME", help=f"the model the file holds ({names})")
    p.add_argument("file", metavar="FILE", help="the downloaded .pth file (for a model of several files, "
                                                "the folder that holds them)")

    p = sub.add_parser("remove", help="delete an installed model",
                       description="Delete an installed model (and any interrupted download of it).")
    p.add_argument("name", metavar="NAME", help=f"the model to delete ({names})")

    sub.add_parser("path", help="print the models folder",
                   description="Print the folder installed models live in. Set the environment "
                               "variable COLORSTUDIO_MODELS to use another folder.")
    parser.set_defaults(models_run=run)
    return parser


def run(args: argparse.Namespace, *, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Carry out a parsed ``models`` command; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    command = getattr(args, "models_command", None)
    try:
        if command == "list":
            return _list(args, out)
        if command == "path":
            from .store import models_path
            print(models_path(), file=out)
            return EXIT_OK
        if command == "install":
            return _install(args, out, err)
        if command == "import":
            return _import(args, out, err)
        if command == "remove":
            from .store import remove
            path = remove(args.name)
            print(f"removed {args.name} ({path})", file=out)
            return EXIT_OK
        print("colorstudio models: choose one of list, install, import, remove, path", file=err)
        return EXIT_USER
    except ModelCancelled:
        print("cancelled; run the same command again to resume", file=err)
        return EXIT_USER
    except ModelError as exc:
        print(f"colorstudio models: {exc}", file=err)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=err)
        return 130
    except Exception as exc:  # noqa: BLE001 - one sentence, not a traceback
        if getattr(args, "debug", False):
            raise
        print(f"colorstudio models: internal error: {type(exc).__name__}: {exc}", file=err)
        return EXIT_INTERNAL


def _size(n: Optional[int]) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f} MB"


def _list(args, out: TextIO) -> int:
    from .store import list_models, models_path
    print(f"models folder: {models_path()}", file=out)
    for st in list_models():
        state = ("bundled" if getattr(st, "bundled", False) else "installed") if st.installed else "not installed"
        if not st.installed and st.partial:
            state += f" (partial download {_size(st.partial)}, `install` resumes it)"
        size = _size(st.size) if st.installed else f"about {_size(st.info.approx_bytes)}"
        print(f"{st.name:<11} {state:<14} {size:>14}  {st.info.purpose}", file=out)
        print(f"{'':<11} {st.path}  [{st.info.licence}]", file=out)
        if args.verbose:
            for f in st.info.files:
                print(f"{'':<11} {f.url} (SHA-256 {f.sha256[:16]}...)", file=out)
            print(f"{'':<11} {st.info.citation}", file=out)
    return EXIT_OK


class ProgressBar:
    """A progress bar redrawn in place on a terminal, at most ~10 times a second.

    Into a file or a pipe it writes nothing: a log or a script reading stderr gets the
    outcome alone (the result on stdout, or the one-sentence refusal), not bar lines.
    """

    def __init__(self, label: str, stream: TextIO, width: int = 30):
        self.label, self.stream, self.width = label, stream, width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self.drawn = 0
        self.reported = False  # whether any progress was reported at all (drawn or not)

    def __call__(self, done: int, total: int) -> None:
        self.reported = True
        if not self.tty:
            return
        now = time.monotonic()
        pct = int(100 * done / total) if total else -1
        finished = bool(total) and done >= total
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        if total:
            filled = int(self.width * min(done, total) / total)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"{self.label} [{bar}] {pct:3d}% {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            text = f"{self.label} {done / 1e6:.1f} MB"
        self.stream.write("\r" + text)
        self.stream.flush()
        self.drawn += 1

    def close(self, ok: bool = True) -> None:
        """End the bar's line; when the work failed, erase the bar so the refusal stands alone."""
        if self.tty and self.drawn:
            self.stream.write("\n" if ok else "\r\x1b[2K")
            self.stream.flush()


def _install(args, out: TextIO, err: TextIO) -> int:
    from .download import install
    from .store import installed_path
    was_there = installed_path(args.name) is not None and not args.force
    bar = ProgressBar(f"downloading {args.name}", err)
    ok = False
    try:
        path = install(args.name, progress=bar, timeout=args.timeout, url=args.url, force=args.force)
        ok = True
    finally:
        bar.close(ok)
    if was_there and not bar.reported:
        print(f"{args.name} is already installed and intact ({path})", file=out)
    else:
        print(f"installed {args.name} ({path})", file=out)
    return EXIT_OK


def _import(args, out: TextIO, err: TextIO) -> int:
    from .store import import_model
    bar = ProgressBar(f"importing {args.name}", err)
    ok = False
    try:
        path = import_model(args.name, args.file, progress=bar)
        ok = True
    finally:
        bar.close(ok)
    print(f"imported {args.name} ({path})", file=out)
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Stand-alone entry: ``python -m colorstudio.models.cli list``."""
    from ..cliparse import Parser, UsageError, prepare
    parser = Parser(prog="colorstudio")
    add_parser(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(prepare(parser, ["models", *(sys.argv[1:] if argv is None else argv)]))
    except UsageError as exc:
        print(f"colorstudio: {exc.sentence}", file=sys.stderr)
        return EXIT_USER
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
