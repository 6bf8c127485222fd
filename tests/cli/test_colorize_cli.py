"""`colorstudio colorize` end to end: real photo, exit codes, help, and every bad input.

Every refusal must be: exit status 2, one sentence on stderr, no traceback, nothing written
(not even a temporary file), and the input photo untouched.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from colorstudio import __version__
from colorstudio.core import export as export_mod



def assert_refused(run, *fragments):
    assert run.rc == 2, (run.rc, run.err)
    assert len(run.err_lines) == 1, run.err
    assert run.err.startswith("colorstudio: ")
    assert "Traceback" not in run.err + run.out
    for f in fragments:
        assert f in run.err, (f, run.err)


# ---------------------------------------------------------------------------------------------
# Success


def test_colorize_a_real_photo_with_a_hints_file(cli, real_photo, tmp_path, make_hints, files):
    with Image.open(real_photo) as im:
        size = im.size
        grey = np.asarray(im.convert("L"))
    w, h = size
    hints = make_hints(tmp_path / "h.json", image=size,
                        points=[(w * 0.5, h * 0.3, "#c89070", 4), (w * 0.2, h * 0.8, "#304060", 4)],
                        strokes=[([(w * 0.1, h * 0.1), (w * 0.3, h * 0.12)], 5, "#7090b0")])
    before = files.sha256(real_photo)
    out = tmp_path / "colour.png"
    run = cli("colorize", real_photo, "-o", out, "--hints", hints)
    assert run.rc == 0, run.err
    assert "Traceback" not in run.err
    assert run.err_lines and run.err_lines[-1].startswith(f"wrote {out}")
    assert files.sha256(real_photo) == before
    with Image.open(out) as im:
        assert im.size == size and im.mode == "RGB"
        rgb = np.asarray(im)
    lab = rgb2lab(rgb / 255.0)
    ref = rgb2lab(np.repeat(grey[..., None], 3, 2) / 255.0)[..., 0]
    assert np.abs(lab[..., 0] - ref).max() <= 0.3            # tones kept
    assert np.hypot(lab[..., 1], lab[..., 2]).max() > 10      # colour added
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colour.png", "h.json"]


@pytest.mark.parametrize("suffix,mode", [(".png", "RGB"), (".jpg", "RGB"), (".tif", "RGB"), (".webp", "RGB"),
                                         (".bmp", "RGB")])
def test_colorize_writes_every_output_format(main, photo, hints, tmp_path, suffix, mode):
    out = tmp_path / f"out{suffix}"
    run = main("colorize", photo, "-o", out, "--hints", hints)
    assert run.rc == 0, run.err
    with Image.open(out) as im:
        assert im.size == (64, 48) and im.mode == mode


def test_colorize_without_hints_gives_the_grey_photo(main, photo, tmp_path, files):
    out = tmp_path / "out.png"
    assert main("colorize", photo, "-o", out).rc == 0
    rgb = np.asarray(Image.open(out))
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], files.grey_image())


def test_overwrite_replaces_an_existing_output(main, photo, hints, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    assert main("colorize", photo, "-o", out, "--hints", hints, "--overwrite").rc == 0
    assert Image.open(out).size == (64, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.png", "photo.hints.json"]


def test_16bit_input_gives_16bit_output(main, tmp_path, png_raw, make_hints):
    grey = (np.arange(48 * 64, dtype=np.uint32) * 21 % 65536).astype(np.uint16).reshape(48, 64)
    src = png_raw.write(tmp_path / "g16.png", grey)
    hints = make_hints(tmp_path / "h.json")
    for name in ("o16.png", "o16.tif"):
        run = main("colorize", src, "-o", tmp_path / name, "--hints", hints)
        assert run.rc == 0 and "16-bit" in run.err
    back, _ = png_raw.read(tmp_path / "o16.png")
    assert back.dtype == np.uint16 and back.shape == (48, 64, 3)


# ---------------------------------------------------------------------------------------------
# --version and --help


def test_version_and_help(cli):
    run = cli("--version")
    assert run.rc == 0 and run.out.splitlines()[0] == f"colorstudio {__version__}"  # then torch, Qt, device...
    run = cli("--help")
    assert run.rc == 0 and run.out.startswith("usage: colorstudio")
    for command in ("colorize", "models", "gui"):
        assert command in run.out


@pytest.mark.parametrize("argv", [["colorize", "--help"], ["gui", "--help"], ["models", "--help"],
                                  ["models", "list", "--help"], ["models", "install", "--help"],
                                  ["models", "import", "--help"], ["models", "remove", "--help"],
                                  ["models", "path", "--help"], ["-h"]])
def test_every_subcommand_has_help(main, argv):
    run = main(*argv)
    assert run.rc == 0
    assert run.out.startswith("usage: colorstudio")
    assert len(run.out.splitlines()) >= 4  # a description and options, not just a usage line


def test_colorize_help_explains_the_options(main):
    text = main("colorize", "--help").out
    for option in ("--output", "--hints", "--engine", "--overwrite", "--max-pixels"):
        assert option in text
    assert "example" in text


def test_bad_arguments_exit_2(main, photo):
    assert main("colorize", photo).rc == 2                  # no -o
    assert main("colorize", "-o", "x.png").rc == 2          # no input
    assert main("colorize", photo, "-o", "x.png", "--quality", "many").rc == 2


# ---------------------------------------------------------------------------------------------
# Bad input: exit 2, one sentence, nothing written, input untouched


def _bad_cases(tmp_path: Path, photo: Path, hints: Path, write_hints, grey_image):
    """name -> (argv, message fragments); each case builds its own files in tmp_path."""
    out = tmp_path / "out.png"
    text_jpg = tmp_path / "notes.jpg"
    text_jpg.write_text("These are my notes about grandfather's photo.\n" * 5)
    jpeg = tmp_path / "whole.jpg"
    Image.fromarray(grey_image()).save(jpeg, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg.read_bytes()[: len(jpeg.read_bytes()) // 2])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    outside = write_hints(tmp_path / "outside.json", points=[(16, 24, "#c86432", 3), (500, 10, "#00ff00", 3)])
    version = write_hints(tmp_path / "v2.json", version=2)
    malformed = write_hints(tmp_path / "bad-colour.json", points=[(1, 1, "#fff", 2), (3, 3, "#12345", 2)])
    not_json = tmp_path / "notjson.json"
    not_json.write_text("{points: []")
    link = tmp_path / "link.png"
    link.symlink_to(photo)
    hard = tmp_path / "hard.png"
    os.link(photo, hard)
    return {
        "text file named .jpg": ([text_jpg, "-o", out], ["notes.jpg is not an image", "looks like text"]),
        "truncated JPEG": ([truncated, "-o", out], ["truncated.jpg is truncated or damaged"]),
        "0-byte file": ([empty, "-o", out], ["empty.png is empty (0 bytes)"]),
        "missing input": ([tmp_path / "nope.png", "-o", out], ["does not exist"]),
        "input is a folder": ([tmp_path, "-o", out], ["is a folder"]),
        "decompression bomb": ([photo, "-o", out, "--max-pixels", "1000"],
                               ["over the", "megapixel limit", "--max-pixels"]),
        "hint outside the image": ([photo, "-o", out, "--hints", outside],
                                   ["outside.json", "points[1] at (500, 10) lies outside the 64\u00d748 photo"]),
        "hints with a wrong version": ([photo, "-o", out, "--hints", version], ["v2.json: version: 2 is not supported"]),
        "hints with a bad colour": ([photo, "-o", out, "--hints", malformed],
                                    ['bad-colour.json: points[1].color: "#12345" is not a colour']),
        "hints that are not JSON": ([photo, "-o", out, "--hints", not_json], ["notjson.json is not valid JSON"]),
        "missing hints file": ([photo, "-o", out, "--hints", tmp_path / "nohints.json"], ["does not exist"]),
        "output folder missing": ([photo, "-o", tmp_path / "no" / "such" / "out.png", "--hints", hints],
                                  ["does not exist"]),
        "output is the input": ([photo, "-o", photo, "--hints", hints], ["is the input photo itself"]),
        "output is the input, overwrite": ([photo, "-o", photo, "--overwrite"], ["is the input photo itself"]),
        "output is the input, other spelling": (
            [photo, "-o", photo.parent / ".." / photo.parent.name / photo.name, "--overwrite"],
            ["is the input photo itself"]),
        "output is a symlink to the input": ([photo, "-o", link, "--overwrite"], ["is the input photo itself"]),
        "output is a hard link to the input": ([photo, "-o", hard, "--overwrite"], ["is the input photo itself"]),
        "unknown output format": ([photo, "-o", tmp_path / "out.xyz", "--hints", hints], ["out.xyz has the suffix"]),
        "unknown engine": ([photo, "-o", out, "--engine", "magic"], ["there is no engine called 'magic'"]),
        "saturation out of range": ([photo, "-o", out, "--saturation", "9"],
                                    ["--saturation takes a number from 0 to 2, not '9'", "colorize --help"]),
        "quality out of range": ([photo, "-o", out, "--quality", "0"],
                                 ["--quality takes a whole number from 1 to 100, not '0'"]),
        "weights for propagation": ([photo, "-o", out, "--engine", "propagation", "--weights", hints],
                                    ["--weights is for the neural engines"]),
    }


CASES = ["text file named .jpg", "truncated JPEG", "0-byte file", "missing input", "input is a folder",
         "decompression bomb", "hint outside the image", "hints with a wrong version", "hints with a bad colour",
         "hints that are not JSON", "missing hints file", "output folder missing", "output is the input",
         "output is the input, overwrite", "output is the input, other spelling",
         "output is a symlink to the input", "output is a hard link to the input", "unknown output format",
         "unknown engine", "saturation out of range", "quality out of range", "weights for propagation"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_cleanly(main, photo, hints, tmp_path, case, make_hints, files):
    argv, fragments = _bad_cases(tmp_path, photo, hints, make_hints, files.grey_image)[case]
    before = files.snapshot(tmp_path)
    run = main("colorize", *argv)
    assert_refused(run, *fragments)
    assert files.snapshot(tmp_path) == before  # nothing written, nothing changed, input untouched


def test_existing_output_is_kept_without_overwrite(main, photo, hints, tmp_path, files):
    out = tmp_path / "out.png"
    out.write_bytes(b"my earlier result")
    before = files.snapshot(tmp_path)
    assert_refused(main("colorize", photo, "-o", out, "--hints", hints), "out.png already exists", "--overwrite")
    assert files.snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["text file named .jpg", "truncated JPEG", "0-byte file", "decompression bomb",
                                  "hint outside the image", "hints with a wrong version", "output folder missing",
                                  "output is the input, other spelling"])
def test_bad_input_in_a_real_process(cli, photo, hints, tmp_path, case, make_hints, files):
    """The same refusals through `python -m colorstudio`: the exit status and stderr a shell sees."""
    argv, fragments = _bad_cases(tmp_path, photo, hints, make_hints, files.grey_image)[case]
    before = files.snapshot(tmp_path)
    assert_refused(cli("colorize", *argv), *fragments)
    assert files.snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["nan", "inf", "0"])
def test_a_nonsense_pixel_limit_is_a_user_error(main, photo, tmp_path, value, files):
    before = files.snapshot(tmp_path)
    assert_refused(main("colorize", photo, "-o", tmp_path / "out.png", "--max-pixels", value), "pixel")
    assert files.snapshot(tmp_path) == before


def test_a_sensible_pixel_limit_lets_the_photo_through(main, photo, tmp_path):
    assert main("colorize", photo, "-o", tmp_path / "o.png", "--max-pixels", "3072").rc == 0   # 64 x 48 exactly
    assert main("colorize", photo, "-o", tmp_path / "p.png", "--max-pixels", "1e6").rc == 0


# ---------------------------------------------------------------------------------------------
# Internal failures and interrupted writes


def _encoder_that_dies_halfway(exc):
    def write(tmp, *args, **kwargs):
        Path(tmp).write_bytes(b"\x89PNG\r\n\x1a\n half a file")
        raise exc
    return write


@pytest.mark.parametrize("exc,rc,message", [
    (RuntimeError("encoder exploded"), 1, "internal error: RuntimeError: encoder exploded"),
    (OSError(errno.ENOSPC, "No space left on device"), 2, "the disk is full"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
@pytest.mark.parametrize("existing", [False, True])
def test_an_interrupted_write_leaves_no_partial_file(main, photo, hints, tmp_path, monkeypatch, exc, rc, message,
                                                     existing, files):
    monkeypatch.setattr(export_mod, "_write_png", _encoder_that_dies_halfway(exc))
    out = tmp_path / "out.png"
    if existing:
        out.write_bytes(b"my earlier result")
    before = files.snapshot(tmp_path)
    run = main("colorize", photo, "-o", out, "--hints", hints, *(["--overwrite"] if existing else []))
    assert run.rc == rc
    assert message in run.err and len(run.err_lines) == 1 and "Traceback" not in run.err
    assert files.snapshot(tmp_path) == before  # the old output (or nothing) and no temporary file


def test_internal_failure_exits_1_and_debug_shows_the_traceback(main, photo, hints, tmp_path, monkeypatch, files):
    """An engine bug is exit 1 with one sentence; with --debug the exception propagates (a traceback)."""
    from colorstudio.engines import propagation

    def broken(self, *args, **kwargs):
        raise ZeroDivisionError("solver fell over")

    monkeypatch.setattr(propagation.PropagationSession, "chroma", broken)
    before = files.snapshot(tmp_path)
    quiet = main("colorize", photo, "-o", tmp_path / "out.png", "--hints", hints)
    assert quiet.rc == 1
    assert len(quiet.err_lines) == 1 and "Traceback" not in quiet.err
    assert "internal error: ZeroDivisionError: solver fell over" in quiet.err and "--debug" in quiet.err
    with pytest.raises(ZeroDivisionError, match="solver fell over"):
        main("colorize", photo, "-o", tmp_path / "out.png", "--hints", hints, "--debug")
    assert files.snapshot(tmp_path) == before


def test_debug_before_the_command_also_shows_the_traceback(main, photo, hints, tmp_path, monkeypatch):
    from colorstudio.engines import propagation

    def broken(self, *args, **kwargs):
        raise ZeroDivisionError("solver fell over")

    monkeypatch.setattr(propagation.PropagationSession, "chroma", broken)
    with pytest.raises(ZeroDivisionError, match="solver fell over"):
        main("--debug", "colorize", photo, "-o", tmp_path / "out.png", "--hints", hints)
