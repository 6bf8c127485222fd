"""File faults end to end, as real processes: odd files as input, racing writers, signals during a
write, long names, stale temporaries, and disks that say no."""
from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files and signals")


def _one_sentence(run) -> str:
    assert len(run.err_lines) == 1, run.err
    line = run.err_lines[0]
    assert line.startswith("colorstudio: ") and "Traceback" not in run.err and "Errno" not in line
    return line


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# -- only regular files are read ------------------------------------------------------------------

@posix_only
def test_a_fifo_as_the_photo_is_refused_at_once(cli, tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    run = cli("colorize", fifo, "-o", tmp_path / "out.png")  # a blocking open would hang here
    assert run.rc == 2
    assert "fifo.png is a named pipe (FIFO), not a photo" in _one_sentence(run)
    assert not (tmp_path / "out.png").exists()


@posix_only
def test_a_fifo_as_the_hints_file_is_refused_at_once(cli, photo, tmp_path):
    fifo = tmp_path / "h.json"
    os.mkfifo(fifo)
    run = cli("colorize", photo, "--hints", fifo, "-o", tmp_path / "out.png")
    assert run.rc == 2
    line = _one_sentence(run)  # read as a hints file or a document, whichever the CLI asks for
    assert "h.json is a named pipe (FIFO), not a " in line and "reads only regular files" in line


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_as_the_photo_is_refused_not_read_forever(cli, tmp_path):
    run = cli("colorize", "/dev/zero", "-o", tmp_path / "out.png")
    assert run.rc == 2
    assert "zero is a character device, not a photo" in _one_sentence(run)


def test_an_oversized_hints_file_is_refused_with_a_sentence(cli, photo, tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(200 * 2 ** 20)  # sparse
    run = cli("colorize", photo, "--hints", big, "-o", tmp_path / "out.png")
    assert run.rc == 2
    line = _one_sentence(run)
    assert "big.json is 200 MB, too large for a " in line and "(at most 64 MB)" in line


# -- nothing is clobbered -------------------------------------------------------------------------

def test_two_runs_writing_the_same_output_exactly_one_wins(spawn, tmp_path):
    sizes = {"a.png": (300, 200), "b.png": (320, 180)}
    for name, (w, h) in sizes.items():
        Image.fromarray(np.random.default_rng(len(name) + w).integers(0, 256, (h, w), dtype=np.uint8)).save(
            tmp_path / name)
    out = tmp_path / "out" / "same.png"
    out.parent.mkdir()
    procs = {name: spawn("colorize", tmp_path / name, "-o", out) for name in sizes}
    results = {name: (p.wait(timeout=120), p.stderr.read()) for name, p in procs.items()}
    for p in procs.values():
        p.stdout.close()
        p.stderr.close()
    winners = [n for n, (rc, _) in results.items() if rc == 0]
    losers = [n for n, (rc, _) in results.items() if rc != 0]
    assert len(winners) == 1 and len(losers) == 1, results
    rc, err = results[losers[0]]
    assert rc == 2 and "same.png already exists" in err and "Traceback" not in err
    with Image.open(out) as im:  # the winner's picture, whole
        assert im.size == sizes[winners[0]]
        im.load()
    assert _temporaries(out.parent) == []


def test_a_file_that_appears_during_the_write_is_kept(main, photo, tmp_path, monkeypatch):
    from colorstudio.core import export

    out = tmp_path / "out.png"
    real = export._write_png

    def another_run_finishes_first(tmp, *args, **kwargs):
        real(tmp, *args, **kwargs)
        out.write_bytes(b"the other run's picture")

    monkeypatch.setattr(export, "_write_png", another_run_finishes_first)
    run = main("colorize", photo, "-o", out)
    assert run.rc == 2
    assert "out.png already exists (it appeared while Colorstudio was writing)" in _one_sentence(run)
    assert out.read_bytes() == b"the other run's picture"
    assert _temporaries(tmp_path) == []
    # With --overwrite the same race replaces it, as asked.
    assert main("colorize", photo, "-o", out, "--overwrite").rc == 0
    assert out.read_bytes() != b"the other run's picture"


def test_a_legal_244_byte_output_name_works(cli, photo, tmp_path):
    out = tmp_path / ("n" * 240 + ".png")
    run = cli("colorize", photo, "-o", out)
    assert run.rc == 0, run.err
    assert out.is_file() and _temporaries(tmp_path) == []


# -- signals during a write -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_photo(tmp_path_factory) -> Path:
    """A 16-bit photo whose 16-bit output takes a second or so to write."""
    path = tmp_path_factory.mktemp("big") / "big16.png"
    yy, xx = np.mgrid[0:1000, 0:1600]
    Image.fromarray(((xx * 7 + yy * 13) % 65521).astype(np.uint16)).save(path)
    return path


def _signal_mid_write(spawn, big_photo, out_dir, sig, ignore=()):
    proc = spawn("colorize", big_photo, "-o", out_dir / "out.png", ignore=ignore)
    deadline = time.monotonic() + 120
    seen = []
    while proc.poll() is None and time.monotonic() < deadline:
        seen = _temporaries(out_dir)
        if seen:
            proc.send_signal(sig)
            break
        time.sleep(0.002)  # polling the folder for the temporary file, not ordering events
    rc = proc.wait(timeout=120)
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert seen, f"the write finished before it could be interrupted: {err}"
    return proc, rc, err, seen


@posix_only
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_during_the_write_leaves_nothing_behind(big_photo, spawn, tmp_path, sig):
    signum = getattr(signal, sig)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc, rc, err, seen = _signal_mid_write(spawn, big_photo, out_dir, signum)
    assert seen[0].startswith(f".colorstudio-{proc.pid}-")
    assert rc == 128 + signum, err
    assert "Traceback" not in err
    assert list(out_dir.iterdir()) == []


@posix_only
def test_a_run_under_nohup_finishes_its_write_through_a_hangup(big_photo, spawn, tmp_path):
    # nohup starts a command with SIGHUP ignored: an archivist's overnight run must outlive
    # the terminal closing, so Colorstudio leaves an ignored SIGHUP ignored.
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc, rc, err, seen = _signal_mid_write(spawn, big_photo, out_dir, signal.SIGHUP, ignore=(signal.SIGHUP,))
    assert rc == 0, err
    assert [p.name for p in out_dir.iterdir()] == ["out.png"]
    with Image.open(out_dir / "out.png") as im:
        assert im.size == (1600, 1000)
        im.load()


@posix_only
def test_sigkill_leftovers_are_removed_by_the_next_run(big_photo, spawn, tmp_path, photo, cli):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc, rc, _err, seen = _signal_mid_write(spawn, big_photo, out_dir, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert _temporaries(out_dir) == seen and seen[0].startswith(f".colorstudio-{proc.pid}-")
    live = out_dir / f".colorstudio-{os.getpid()}-0badf00d.part"  # this test process is alive
    live.write_bytes(b"in progress")
    run = cli("colorize", photo, "-o", out_dir / "next.png")
    assert run.rc == 0, run.err
    assert _temporaries(out_dir) == [live.name]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(["next.png", live.name])


# -- disks that say no ----------------------------------------------------------------------------

@pytest.mark.parametrize("code, expected", [
    (errno.ENOSPC, "the disk is full: could not write "),
    (errno.EROFS, "the disk is read-only: could not write "),
    (errno.EACCES, "you may not write to "),
])
def test_disk_refusals_are_sentences(main, photo, tmp_path, monkeypatch, code, expected):
    from colorstudio.core import atomic

    real_open = os.open

    def refusing(p, flags, *args, **kwargs):
        if Path(p).name.startswith(".colorstudio-"):
            raise OSError(code, os.strerror(code))
        return real_open(p, flags, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", refusing)
    run = main("colorize", photo, "-o", tmp_path / "out.png")
    assert run.rc == 2
    line = _one_sentence(run)
    assert line.startswith("colorstudio: " + expected), line
    assert list(tmp_path.glob("out*")) == [] and _temporaries(tmp_path) == []


@posix_only
def test_an_output_that_is_a_fifo_or_a_device_is_never_replaced(cli, photo, tmp_path):
    fifo = tmp_path / "out.png"
    os.mkfifo(fifo)
    run = cli("colorize", photo, "-o", fifo, "--overwrite")
    assert run.rc == 2
    assert "out.png is a named pipe (FIFO), not a file Colorstudio can write over" in _one_sentence(run)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_atomic_writes_refuse_to_replace_a_special_file(tmp_path):
    from colorstudio.core.atomic import WriteError, atomic_write_text

    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(WriteError, match="pipe is a named pipe .FIFO., not a file Colorstudio can write over"):
            atomic_write_text(tmp_path / "pipe", "x", overwrite=True)
    (tmp_path / "dir").mkdir()
    with pytest.raises(WriteError, match="dir is a folder"):
        atomic_write_text(tmp_path / "dir", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["dir"] + (["pipe"] if hasattr(os, "mkfifo") else []))
