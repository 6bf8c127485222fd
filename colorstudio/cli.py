"""The command line: ``colorstudio [PHOTO]``, ``gui``, ``colorize``, ``models``, ``batch``.

Exit status: 0 success; 2 something the user can fix (bad arguments, unreadable input,
malformed hints, an output that exists or would overwrite the input, a missing model);
1 an internal failure. Errors are one sentence on stderr; ``--debug`` shows tracebacks.
Qt is imported only to start the GUI; torch only when an engine runs.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
import time
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .cliparse import Parser, UsageError, looks_like_a_path, number, prepare, unknown_command

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2
COMMANDS = ("gui", "colorize", "models", "batch", "train")

EPILOG = """\
examples:
  colorstudio                                   open the app
  colorstudio old.jpg                           open the app with a photo
  colorstudio colorize old.jpg -o colour.png --hints old.hints.json
  colorstudio colorize scan.tif -o scan-colour.tif --mode auto --engine eccv16
  colorstudio models list
  colorstudio batch scans/ colour/ --recursive   colorize a folder (see `colorstudio batch -h`)
"""


class UserError(Exception):
    """Something the user can fix; the message is the sentence to print."""


class _VersionAction(argparse.Action):
    """``--version``: everything a bug report needs (see colorstudio/about.py), then exit."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .about import about
        print(about().text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from .core.spec import SATURATION, STRENGTH
    parser = Parser(
        prog="colorstudio",
        description="Colorize black-and-white photographs. With no command, opens the app.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction,
                        help="show the version, torch and Qt versions, the device, folders and installed models")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="{gui,colorize,models,batch,train}")

    g = sub.add_parser("gui", help="open the desktop app (the default command)",
                       description="Open the desktop app, optionally with photos.")
    g.add_argument("photos", nargs="*", metavar="PHOTO", help="photos to open")
    g.add_argument("--hints", metavar="FILE", help="a hints or document file to apply to the first photo")
    g.add_argument("--screenshot", metavar="PNG",
                   help="render the window offscreen once the preview is shown, save it as PNG, and exit")
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    c = sub.add_parser(
        "colorize", help="colorize one photo to a file",
        description="Colorize a photo and write the result at full resolution and bit depth. The "
                    "photo's lightness is kept exactly; only colour is added. The input is never "
                    "written, and an existing output is kept unless --overwrite is given.",
        epilog="example:\n  colorstudio colorize old.jpg -o colour.png --hints old.hints.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("input", metavar="INPUT", help="the photo (JPEG, PNG, TIFF, BMP, WebP; grey or colour)")
    c.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="where to write the result; the format follows the extension (.png, .tif, .jpg, .webp, .bmp)")
    c.add_argument("--hints", metavar="FILE", help="a hints file (JSON, see README) or a saved document")
    from .core.spec import DEVICE_NAMES, Mode
    c.add_argument("--mode", choices=[m.value for m in Mode], default=None,
                   help="hints: colour from your hints (default); auto: a neural network chooses the colours "
                        "(needs an installed model); reference: colours from --reference pictures; "
                        "palette: the palette of --reference on a colour photo; style: the style of a "
                        "--reference painting")
    c.add_argument("--engine", metavar="NAME", default=None,
                   help=f"one of: {_engine_names()}; default: the best installed for the mode")
    c.add_argument("--reference", metavar="REF", action="append", default=[],
                   help="a reference picture (reference, palette and style modes); repeat for several")
    c.add_argument("--strength", type=number(STRENGTH.minimum, STRENGTH.maximum, validate=STRENGTH.validate),
                   default=None, metavar="S",
                   help="how much of the reference or style to apply, 0 to 1 (default 1)")
    tones = c.add_mutually_exclusive_group()
    tones.add_argument("--keep-tones", dest="look", action="store_const", const="tones",
                       help="keep the photo's own tones (the default)")
    tones.add_argument("--full-style", dest="look", action="store_const", const="painting",
                       help="style mode: take the painting's tones too (the one look that changes the photo's "
                            "lightness; recorded in the output's provenance)")
    c.add_argument("--weights", metavar="FILE",
                   help="load this checkpoint for a neural engine instead of the installed one (no registry hash check)")
    c.add_argument("--device", choices=DEVICE_NAMES, default="auto",
                   help="where neural engines run (default: auto = CUDA, then MPS, then CPU)")
    c.add_argument("--saturation", default=SATURATION.default, metavar="X",
                   type=number(SATURATION.minimum, SATURATION.maximum, validate=SATURATION.validate),
                   help=f"colour strength: 0 grey, 1 as computed (default), up to {SATURATION.maximum:g} more vivid")
    c.add_argument("--quality", type=number(1, 100, integer=True), default=95, metavar="Q",
                   help="JPEG/WebP quality 1-100 (default 95)")
    c.add_argument("--max-pixels", type=number(1, 1e12, what="a number of pixels"), default=None, metavar="N",
                   help="largest photo to open, in pixels (guards against decompression bombs; "
                        "default: COLORSTUDIO_MAX_PIXELS or about 89 million)")
    c.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    c.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    from .models.cli import add_parser as add_models_parser
    m = add_models_parser(sub)
    # SUPPRESS: a subcommand's own --debug must not reset `colorstudio --debug CMD`.
    m.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    from .core.batch.cli import add_parser as add_batch_parser
    add_batch_parser(sub)
    from .training.cli import add_parser as add_train_parser
    add_train_parser(sub).add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _engine_names() -> str:
    from .engines.registry import ENGINES
    return ", ".join(f"{name} ({'/'.join(m.value for m in spec.modes)})" for name, spec in ENGINES.items())


def choose_engine(mode: Optional[str], engine: Optional[str], weights: Optional[str] = None) -> str:
    """The engine for a mode: the user's choice, else the best one installed.

    With ``weights`` (a checkpoint file) and no engine named, the file must be for a neural
    engine: siggraph17 in hints mode (the only one that takes hints); in automatic mode the
    user has to say which network the file holds.
    """
    from .engines.registry import ENGINES, engines_by_preference
    from .models.store import is_installed
    mode = mode or "hints"
    if weights and not engine:
        if mode == "hints":
            return "siggraph17"
        raise UserError("--weights needs --engine to say which network the file holds: "
                        "--engine siggraph17 or --engine eccv16")
    if engine:
        info = ENGINES.get(engine)
        if info is None:
            raise UserError(f"there is no engine called {engine!r}; choose one of: {', '.join(ENGINES)}")
        if mode not in info.modes:
            raise UserError(f"the {engine} engine does not do {mode} mode; it does: {', '.join(info.modes)}")
        return engine
    for name in engines_by_preference(mode):
        if not ENGINES[name].needs_weights or is_installed(name):
            return name
    if mode not in ("hints", "auto"):
        names = engines_by_preference(mode)
        if not names:
            raise UserError(f"no engine of this version of Colorstudio does {mode} mode")
        raise UserError(f"{mode} mode needs a model that is not installed; install it with "
                        f"`colorstudio models install {names[0]}`")
    raise UserError(f"{'automatic' if mode == 'auto' else mode} mode needs a neural model, and none is installed; install one with "
                    "`colorstudio models install siggraph17` (or `colorstudio models import siggraph17 FILE` "
                    "offline), or give colour hints with --hints")


def json_keys(path) -> set:
    """The keys of a JSON file's top object (to tell a saved document from a plain hints file)."""
    from .core.hints import read_json
    from .core.document import DocumentError
    try:
        data = read_json(Path(path), DocumentError, "Colorstudio document")
    except DocumentError:
        return set()
    return set(data) if isinstance(data, dict) else set()


def _colorize(args) -> int:
    from .core.hints import Hints
    from .core.image import open_image
    from .core.session import ColorizeSession
    from .engines.registry import ENGINES

    from .core.export import check_destination, format_for_path
    src, out = Path(args.input), Path(args.output)
    # Refuse a bad destination or suffix before any work is done; write_image checks again.
    check_destination(out, src, overwrite=args.overwrite)
    format_for_path(out)
    doc = None
    if args.hints:
        from .core.document import Document, DocumentError
        try:
            doc = Document.load(args.hints)      # a saved document, or a plain hints file
        except DocumentError as exc:
            raise UserError(str(exc)) from None
    hints = doc.hints if doc is not None else Hints()
    is_document = doc is not None and "document" in json_keys(args.hints)
    mode = args.mode or (doc.mode if is_document else None) or "hints"
    if mode == "auto" and args.hints:
        logging.getLogger(__name__).info("automatic mode: the hints are passed to engines that use them")
    engine = args.engine or (doc.engine if is_document and doc.mode == mode else None)
    name = choose_engine(mode, engine, weights=args.weights)
    spec = ENGINES[name]
    references = list(args.reference)
    if not references and is_document and doc.references:
        # The document's references where they are now (a moved one found by its hash beside
        # the document or the photo), with their regions; a missing one fails below with a sentence.
        located, notes = doc.locate_references(near=(Path(args.hints).parent, src.parent))
        for note in notes:
            logging.getLogger(__name__).warning("%s", note)
        references = list(located.references)
    if spec.uses_reference and not references:
        raise UserError(f"{mode} mode needs a reference picture: add --reference PICTURE")
    if references and not spec.uses_reference:
        raise UserError(f"--reference is for the reference, palette and style modes; {mode} mode does not use it")
    strength = args.strength if args.strength is not None else (doc.strength if is_document else 1.0)
    if not (0.0 <= strength <= 1.0):     # also refuses nan
        raise UserError(f"--strength must be a number from 0 to 1, not {strength:g}")
    look = args.look or (doc.look if is_document else "tones")
    if look == "painting" and mode != "style":
        raise UserError("--full-style is for style mode (--mode style)")
    options = {}
    if ENGINES[name].needs_weights:
        options = {"device": args.device}
        if args.weights:
            options["weights"] = args.weights
    elif args.weights:
        raise UserError(f"--weights is for the neural engines; {name} needs no weights")
    elif args.device != "auto":
        logging.getLogger(__name__).warning("the %s engine runs on the CPU; --device %s applies to the neural "
                                            "engines only", name, args.device)
    # The option's type has checked the range (1 to 10^12).
    max_pixels = int(args.max_pixels) if args.max_pixels is not None else None
    photo = open_image(src, max_pixels=max_pixels)
    scaled = hints.scaled_to(photo.width, photo.height)
    problems = scaled.problems_outside(photo.width, photo.height)
    if problems:
        raise UserError(f"{Path(args.hints).name}: " + "; ".join(problems))
    from .core.session import load_references
    refs = load_references(references, need_color=(mode == "reference"))
    t0 = time.perf_counter()
    session = ColorizeSession(photo, name, **options)
    result = session.render(hints, saturation=args.saturation, references=refs, strength=strength, look=look,
                            options=dict(doc.options) if is_document and doc.engine == name else None, mode=mode)
    path = result.save(out, quality=args.quality, overwrite=args.overwrite)
    print(f"wrote {path} ({photo.width}\u00d7{photo.height}, {result.rgb.dtype.itemsize * 8}-bit, "
          f"engine {result.engine}, {len(hints)} hints, {time.perf_counter() - t0:.2f} s)", file=sys.stderr)
    return EXIT_OK


def _gui(args) -> int:
    for photo in args.photos:
        if not Path(photo).exists():
            raise UserError(f"the photo {photo} does not exist")
    import os
    from .gui.display import why_no_window
    env = dict(os.environ)
    if args.screenshot is not None and not env.get("QT_QPA_PLATFORM"):
        env["QT_QPA_PLATFORM"] = "offscreen"  # what gui.app.run does for a screenshot
    reason = why_no_window(env)
    if reason:
        raise UserError(reason)
    from .gui.app import run
    return run(list(args.photos), screenshot=args.screenshot, hints=args.hints)


def _user_error_types() -> tuple:
    from .core.hints import HintsError
    from .core.image import ImageError
    from .core.export import ExportError
    from .core.atomic import WriteError
    from .core.document import DocumentError
    from .core.reference import ReferenceError
    from .engines.base import EngineError
    from .models.errors import ModelError
    return (UserError, HintsError, ImageError, ExportError, WriteError, EngineError, ModelError, DocumentError,
            ReferenceError)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `colorstudio PHOTO...` and bare `colorstudio` open the app.
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None and not any(a in ("-h", "--help", "--version") for a in argv):
        argv = ["gui", *argv]
    elif first is not None and first not in COMMANDS:
        # A word that is neither a command nor an existing file is a mistyped command, not a photo.
        if not Path(first).exists():
            sentence = (f"the photo {first} does not exist" if looks_like_a_path(first)
                        else unknown_command(first, COMMANDS))
            print(f"colorstudio: {sentence}", file=sys.stderr)
            return EXIT_USER
        argv = ["gui", *argv]
    parser = build_parser()
    try:
        args = parser.parse_args(prepare(parser, argv))
    except UsageError as exc:
        print(f"colorstudio: {exc.sentence}", file=sys.stderr)
        return EXIT_USER
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s: %(message)s")
    from .core.atomic import Terminated, signal_cleanup
    # Colorstudio checks every photo's size itself and says so in a sentence; Pillow's own
    # warning about big images would only repeat it as noise on stderr.
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
    try:
        if args.command == "colorize":
            with signal_cleanup():  # SIGTERM and SIGHUP remove temporary files like Ctrl+C does
                return _colorize(args)
        if args.command == "models":
            with signal_cleanup():
                return args.models_run(args)
        # Batch and training keep the default (their worker threads would hold up an orderly
        # exit); the temporaries a killed run leaves carry its pid and the next write removes them.
        if args.command == "batch":
            return args.batch_run(args)
        if args.command == "train":
            return args.train_run(args)
        return _gui(args)  # the app's event loop keeps the default: SIGTERM ends it at once
    except KeyboardInterrupt:
        print("colorstudio: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"colorstudio: stopped by {exc}; nothing half-written was left", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # noqa: BLE001
        if debug:
            raise
        if isinstance(exc, _user_error_types()):
            print(f"colorstudio: {exc}", file=sys.stderr)
            return EXIT_USER
        if isinstance(exc, MemoryError):
            print("colorstudio: not enough memory for this photo; close other programs or use a smaller "
                  "photo (run with --debug for details)", file=sys.stderr)
            return EXIT_INTERNAL
        print(f"colorstudio: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


def gui_main() -> int:
    """Entry point of the `colorstudio-gui` launcher (no console on Windows)."""
    return main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
