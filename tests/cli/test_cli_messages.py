"""Command-line mistakes: one sentence on stderr naming the option and what it accepts, a
pointer to --help, exit status 2, nothing written, and the app never started by a typo."""
from __future__ import annotations

import shutil

import pytest


def refused(run, *fragments):
    assert run.rc == 2, (run.rc, run.err)
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("colorstudio: ") and "usage:" not in run.err and "Traceback" not in run.err
    for fragment in fragments:
        assert fragment in run.err, (fragment, run.err)


OPTION_CASES = {
    "--quality high": (["--quality", "high"], "--quality takes a whole number from 1 to 100, not 'high'"),
    "--quality 101": (["--quality", "101"], "--quality takes a whole number from 1 to 100, not '101'"),
    "--quality 9.5": (["--quality", "9.5"], "--quality takes a whole number from 1 to 100, not '9.5'"),
    "--saturation 2.5": (["--saturation", "2.5"], "--saturation takes a number from 0 to 2, not '2.5'"),
    "--saturation -1": (["--saturation", "-1"], "--saturation takes a number from 0 to 2, not '-1'"),
    "--saturation nan": (["--saturation", "nan"], "--saturation takes a number from 0 to 2, not 'nan'"),
    "--saturation inf": (["--saturation", "inf"], "--saturation takes a number from 0 to 2, not 'inf'"),
    "--max-pixels lots": (["--max-pixels", "lots"], "--max-pixels takes a number of pixels from 1 to"),
    "--max-pixels 1e999": (["--max-pixels", "1e999"], "--max-pixels takes a number of pixels from 1 to"),
    "--mode magic": (["--mode", "magic"], "--mode takes one of hints, auto, reference, palette, style, not 'magic'"),
    "--strength 1.5": (["--strength", "1.5"], "--strength takes a number from 0 to 1, not '1.5'"),
    "--strength nan": (["--strength", "nan"], "--strength takes a number from 0 to 1, not 'nan'"),
    "--device tpu": (["--device", "tpu"], "--device takes one of auto, cpu, cuda, mps, not 'tpu'"),
    "--hints without a value": (["--hints"], "--hints needs a value"),
    "unknown option": (["--colour"], "--colour is not an option of colorstudio colorize"),
    "an extra argument": (["extra.png"], "colorstudio colorize does not take the extra argument extra.png"),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_a_bad_option_is_one_sentence_naming_what_it_accepts(main, photo, tmp_path, case, files):
    extra, fragment = OPTION_CASES[case]
    before = files.snapshot(tmp_path)
    run = main("colorize", photo, "-o", tmp_path / "out.png", *extra)
    refused(run, fragment, "see `colorstudio colorize --help`")
    assert files.snapshot(tmp_path) == before


def test_a_missing_output_is_named(main, photo):
    refused(main("colorize", photo), "colorstudio colorize needs -o/--output", "colorize --help")


@pytest.mark.parametrize("argv, fragment", [
    (["install", "siggraph17", "--timeout", "nan"], "--timeout takes a number of seconds more than 0 and at most 86,400, not 'nan'"),
    (["install", "siggraph17", "--timeout", "-5"], "--timeout takes a number of seconds more than 0 and at most 86,400, not '-5'"),
    (["install", "siggraph17", "--timeout", "0"], "not '0'"),
    (["install", "siggraph17", "--timeout", "1e400"], "not '1e400'"),
    (["instal", "siggraph17"], "'instal' is not a colorstudio models command; the commands are: list, install, import, "
                               "remove, path (did you mean install?)"),
    ([], "colorstudio models needs a command: list, install, import, remove, path"),
    (["import", "siggraph17"], "colorstudio models import needs FILE"),
])
def test_models_options_are_checked_with_their_range(main, argv, fragment):
    run = main("models", *argv)
    refused(run, fragment, "--help`")


def test_a_photo_named_with_a_dash_is_taken_as_a_name_when_it_exists(main, photo, tmp_path, monkeypatch):
    monkeypatch.chdir(photo.parent)
    shutil.copy(photo, photo.parent / "-x.png")
    run = main("colorize", "-x.png", "-o", tmp_path / "out.png")
    assert run.rc == 0, run.err
    assert (tmp_path / "out.png").is_file()
    # ... as an option's value too
    run = main("colorize", "-x.png", "-o", tmp_path / "out2.png", "--hints", "-x.png")
    refused(run, "-x.png is not a Colorstudio document (it is not UTF-8 text)")


def test_a_dash_name_that_is_no_file_says_to_use_double_dash(main, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = main("colorize", "-x.png", "-o", "out.png")
    refused(run, "-x.png is not an option of colorstudio colorize and no file has that name",
            "goes after `--`", "./-x.png")
    assert "missing" not in run.err and "required" not in run.err
    assert not (tmp_path / "out.png").exists()


def test_a_mistyped_command_is_refused_in_a_real_process(cli, photo, tmp_path):
    run = cli("colourise", photo, "-o", tmp_path / "out.png", cwd=tmp_path)
    refused(run, "'colourise' is not a colorstudio command", "gui, colorize, models", "did you mean colorize?")
    assert not (tmp_path / "out.png").exists()


def test_a_photo_that_does_not_exist_does_not_start_the_app(cli, tmp_path):
    refused(cli("missing.jpg", cwd=tmp_path), "the photo missing.jpg does not exist")
    refused(cli("gui", "holiday/missing.png", cwd=tmp_path), "the photo holiday/missing.png does not exist")
    refused(cli("--debug", "nofile", cwd=tmp_path), "'nofile' is not a colorstudio command")


def test_argparse_help_still_works(main):
    run = main("colorize", "--help")
    assert run.rc == 0 and run.out.startswith("usage: colorstudio colorize")


@pytest.mark.parametrize("text, fragment", [
    ('{"points": [{"x": %s, "y": 2, "color": "red"}]}' % ("1" * 5001), "it holds a number too long to read"),
    ('{"points": [{"x": NaN, "y": 2, "color": "red"}]}', "points[0].x: NaN is not a number"),
    ('{"points": [{"x": 1e999, "y": 2, "color": "red"}]}', "points[0].x: Infinity is not a number"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"document": {"settings": {"saturation": %s}}}' % ("9" * 4000), "a number of more than 40 digits"),
    ('{"document": {"mode": ["hints"]}}', "document.mode: ['hints'] is not one of"),
], ids=["5001 digits", "NaN", "1e999", "deep nesting", "4000-digit saturation", "mode as a list"])
def test_a_hostile_hints_file_in_a_real_process(cli, photo, tmp_path, text, fragment):
    hints = tmp_path / "h.json"
    hints.write_text(text)
    run = cli("colorize", photo, "-o", tmp_path / "out.png", "--hints", hints)
    refused(run, fragment)
    assert len(run.err) < 300 and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("option, value, fragment", [
    ("--jobs", "0", "--jobs/-j takes auto or a whole number from 1 to 256, not '0'"),
    ("--jobs", "many", "--jobs/-j takes auto or a whole number from 1 to 256, not 'many'"),
    ("--quality", "1000", "--quality takes a whole number from 1 to 100, not '1000'"),
    ("--saturation", "nan", "--saturation takes a number from 0 to 2, not 'nan'"),
])
def test_batch_options_are_checked_with_their_range(main, tmp_path, option, value, fragment):
    (tmp_path / "in").mkdir()
    run = main("batch", tmp_path / "in", tmp_path / "out", option, value)
    refused(run, fragment, "see `colorstudio batch --help`")
    assert not (tmp_path / "out").exists()
