"""Reading only regular files, OS errors as sentences, and atomic writes that race safely."""
from __future__ import annotations

import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorstudio.core import atomic
from colorstudio.core import files as files_mod
from colorstudio.core.atomic import WriteError, atomic_path, atomic_write_text, remove_stale_temporaries
from colorstudio.core.document import AutosaveStore, Document, DocumentError, PhotoRef
from colorstudio.core.export import ExportError, write_image
from colorstudio.core.files import FileError, open_regular, os_error_sentence, read_regular_bytes
from colorstudio.core.hints import Hints, HintsError
from colorstudio.core.image import ImageError, open_image
from colorstudio.core.reference import ReferenceError, load_reference

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo.png"
    os.mkfifo(path)
    return path


# -- only regular files ---------------------------------------------------------------------------

@posix_only
@pytest.mark.parametrize("reader", ["photo", "hints", "document", "reference", "bytes"])
def test_a_fifo_is_refused_by_every_reader_without_blocking(fifo, reader):
    # No writer ever opens the FIFO: a blocking open or read would hang the test forever.
    readers = {
        "photo": (lambda p: open_image(p), ImageError),
        "hints": (lambda p: Hints.load(p), HintsError),
        "document": (lambda p: Document.load(p), DocumentError),
        "reference": (lambda p: load_reference(p), ReferenceError),
        "bytes": (lambda p: read_regular_bytes(p), FileError),
    }
    read, error = readers[reader]
    with pytest.raises(error) as info:
        read(fifo)
    message = str(info.value)
    assert "fifo.png is a named pipe (FIFO)" in message and "regular files" in message
    assert "\n" not in message


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_device_is_refused_before_any_read():
    with pytest.raises(ImageError, match="zero is a character device, not a photo"):
        open_image("/dev/zero")
    with pytest.raises(HintsError, match="zero is a character device"):
        Hints.load("/dev/zero")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs unix sockets")
def test_a_socket_and_a_folder_are_refused(tmp_path):
    path = tmp_path / "s.png"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(ImageError, match="s.png is a socket, not a photo"):
            open_image(path)
    with pytest.raises(ImageError, match="is a folder, not a photo"):
        open_image(tmp_path)


@posix_only
def test_a_name_swapped_for_a_fifo_after_the_first_check_is_refused_on_the_descriptor(fifo, monkeypatch):
    """os.stat is fooled into seeing a regular file; fstat on the opened descriptor is not."""
    real_stat = os.stat
    regular = real_stat(__file__)

    def lying_stat(p, *args, **kwargs):
        return regular if Path(p) == fifo else real_stat(p, *args, **kwargs)

    monkeypatch.setattr(files_mod.os, "stat", lying_stat)
    with pytest.raises(FileError, match="fifo.png is a named pipe"):
        open_regular(fifo, what="photo")


def test_a_regular_file_reads_normally_and_its_name_is_kept(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    with open_regular(path) as fh:
        assert fh.read() == b"x" * 100
        assert fh.name == str(path)
        assert os.get_blocking(fh.fileno())  # O_NONBLOCK is only for the open


def test_files_over_the_cap_are_refused_before_being_read(tmp_path, monkeypatch):
    big = tmp_path / "huge.hints.json"
    with open(big, "wb") as fh:  # sparse: 200 MB that take no disk and would take 400 MB of memory
        fh.truncate(200 * 2 ** 20)
    with pytest.raises(HintsError) as info:
        Hints.load(big)
    assert str(info.value) == ("huge.hints.json is 200 MB, too large for a hints file (at most 64 MB); "
                               "Colorstudio refuses it without reading it")
    with pytest.raises(DocumentError, match="too large for a Colorstudio document"):
        Document.load(big)
    # Just under the cap is read (and then judged on its content).
    from colorstudio.core import hints as hints_mod
    monkeypatch.setattr(hints_mod, "MAX_FILE_BYTES", 1000)
    small = tmp_path / "ok.json"
    small.write_text(json.dumps({"format": "colorstudio.hints", "version": 1, "points": []}) + " " * 900)
    assert len(Hints.load(small)) == 0
    small.write_text(small.read_text() + " " * 100)
    with pytest.raises(HintsError, match="too large for a hints file"):
        Hints.load(small)


def test_a_file_that_grows_past_the_cap_while_read_is_still_refused(tmp_path, monkeypatch):
    path = tmp_path / "h.json"
    path.write_bytes(b"[]")
    real_fstat = os.fstat

    def small_fstat(fd):  # the size seen before reading is under the cap ...
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid,
                               2, st.st_atime, st.st_mtime, st.st_ctime))

    monkeypatch.setattr(files_mod.os, "fstat", small_fstat)
    path.write_bytes(b"[" + b" " * 50 + b"]")  # ... but the file holds more
    with pytest.raises(FileError) as info:
        read_regular_bytes(path, what="hints file", max_bytes=10)
    assert str(info.value) == "h.json is over 10 bytes, too large for a hints file"


def test_a_number_too_long_for_python_is_a_sentence(tmp_path):
    path = tmp_path / "digits.json"
    path.write_text('{"format": "colorstudio.hints", "version": 1, "points": [{"x": ' + "9" * 5001 + "}]}")
    with pytest.raises(HintsError, match="digits.json is not a hints file .it holds a number too long"):
        Hints.load(path)


# -- OS errors as sentences -----------------------------------------------------------------------

@pytest.mark.parametrize("code, expected", [
    (errno.ENOSPC, "the disk is full: could not write out/photo.png"),
    (errno.EROFS, "the disk is read-only: could not write out/photo.png"),
    (errno.EACCES, "you may not write to out; choose another folder"),
    (errno.EPERM, "you may not write to out; choose another folder"),
    (errno.ENAMETOOLONG, "the name photo.png is too long for the disk"),
    (errno.EIO, "the disk reported an input/output error with out/photo.png"),
])
def test_os_errors_are_sentences_without_errno(code, expected):
    message = os_error_sentence(OSError(code, os.strerror(code)), Path("out/photo.png"))
    assert message.startswith(expected)
    assert "Errno" not in message and "[" not in message


def test_a_file_name_in_a_message_keeps_its_spelling():
    message = os_error_sentence(OSError(errno.EIO, "Input/output error"), Path("bad.jpg"))
    assert "bad.jpg" in message and "Bad.jpg" not in message


@pytest.mark.parametrize("code, expected", [
    (errno.ENOSPC, "the disk is full"), (errno.EROFS, "the disk is read-only"),
    (errno.EACCES, "you may not write to "),
])
def test_export_says_what_the_disk_said(tmp_path, monkeypatch, code, expected):
    real_open = os.open

    def failing(p, flags, *args, **kwargs):
        if Path(p).name.endswith(".part"):
            raise OSError(code, os.strerror(code))
        return real_open(p, flags, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", failing)
    with pytest.raises(ExportError) as info:
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert str(info.value).startswith(expected) and "Errno" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_midway_leaves_nothing(tmp_path, monkeypatch):
    from colorstudio.core import export

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "_write_png", full)
    with pytest.raises(ExportError, match="^the disk is full: could not write"):
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


# -- atomic writes --------------------------------------------------------------------------------

def test_temporary_names_are_short_recognisable_and_carry_the_pid(tmp_path):
    long_name = "x" * 240 + ".png"  # 244 bytes: legal on ext4 (255), too long for 'name + suffix'
    with atomic_path(tmp_path / long_name) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(f".colorstudio-{os.getpid()}-") and tmp.name.endswith(".part")
        assert len(tmp.name) < 40
        tmp.write_bytes(b"data")
    assert (tmp_path / long_name).read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == [long_name]


def test_file_mode_follows_the_umask_without_changing_it(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "hi")
        assert os.umask(0o027) == 0o027  # nothing flipped it
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640


def test_atomic_writes_never_touch_the_process_umask(tmp_path, monkeypatch):
    def no_umask(*args):
        raise AssertionError("os.umask is process-wide: setting it races with other threads")

    monkeypatch.setattr(os, "umask", no_umask)
    atomic_write_text(tmp_path / "a.txt", "hi")
    write_image(tmp_path / "b.png", np.zeros((2, 2, 3), np.uint8))
    assert (tmp_path / "a.txt").read_text() == "hi" and (tmp_path / "b.png").exists()


def test_atomic_writes_from_many_threads_keep_the_umask_and_their_files(tmp_path):
    """The old code set the umask to 0 for a moment; a file created meanwhile came out 0666."""
    old = os.umask(0o022)
    try:
        errors = []

        def writer(i):
            try:
                for j in range(20):
                    atomic_write_text(tmp_path / f"w{i}-{j}.txt", f"{i}-{j}")
                    with open(tmp_path / f"plain{i}-{j}.txt", "w"):
                        pass
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name
        if p.name.startswith("w"):
            assert p.read_text() == p.stem[1:]
    assert not list(tmp_path.glob(".*.part"))


def test_without_overwrite_a_file_that_appeared_meanwhile_is_never_replaced(tmp_path):
    dest = tmp_path / "out.txt"
    with pytest.raises(WriteError, match="out.txt already exists .it appeared while Colorstudio was writing"):
        with atomic_path(dest, overwrite=False) as tmp:
            tmp.write_text("mine")
            dest.write_text("theirs")  # another program finished first
    assert dest.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    # With overwrite, it is replaced; without, and no file there, it is written.
    with atomic_path(dest, overwrite=True) as tmp:
        tmp.write_text("mine")
    assert dest.read_text() == "mine"
    with atomic_path(tmp_path / "new.txt", overwrite=False) as tmp:
        tmp.write_text("new")
    assert (tmp_path / "new.txt").read_text() == "new"


def test_the_no_replace_step_works_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_renameat2", None)
    monkeypatch.setattr(atomic, "_renameat2_checked", True)
    dest = tmp_path / "out.txt"
    with atomic_path(dest, overwrite=False) as tmp:
        tmp.write_text("one")
    with pytest.raises(WriteError, match="already exists"):
        with atomic_path(dest, overwrite=False) as tmp:
            tmp.write_text("two")
    assert dest.read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_many_threads_racing_for_one_name_exactly_one_wins(tmp_path):
    dest = tmp_path / "out.txt"
    barrier = threading.Barrier(6, timeout=20)
    results = []

    def racer(i):
        try:
            with atomic_path(dest, overwrite=False) as tmp:
                tmp.write_text(str(i))
                barrier.wait()
            results.append(("won", i))
        except WriteError:
            results.append(("lost", i))

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for kind, i in results if kind == "won"]
    assert len(winners) == 1 and len(results) == 6
    assert dest.read_text() == str(winners[0])
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process ids")
def test_stale_temporaries_of_dead_processes_are_removed_never_live_ones(tmp_path):
    dead = tmp_path / f".colorstudio-{_dead_pid()}-abcd1234.part"
    live_other = tmp_path / f".colorstudio-{os.getppid()}-abcd1234.part"
    mine = tmp_path / f".colorstudio-{os.getpid()}-abcd1234.part"
    unrelated = [tmp_path / ".photo.png.x1y2.part", tmp_path / ".colorstudio-notapid-1.part",
                 tmp_path / "colorstudio-1-1.part"]
    for p in [dead, live_other, mine, *unrelated]:
        p.write_bytes(b"partial")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert not dead.exists()
    assert all(p.exists() for p in [live_other, mine, *unrelated])
    # A write into the folder does the same clean-up.
    dead2 = tmp_path / f".colorstudio-{_dead_pid()}-0000ffff.part"
    dead2.write_bytes(b"partial")
    atomic_write_text(tmp_path / "out.txt", "x")
    assert not dead2.exists() and live_other.exists()


# -- autosaves ------------------------------------------------------------------------------------

def _doc(h: str) -> Document:
    return Document(photo=PhotoRef(path="p.png", content_hash=h, width=10, height=10))


def test_a_corrupt_autosave_is_kept_aside_before_a_new_one_is_written(tmp_path):
    h = "ab" * 32
    store = AutosaveStore(tmp_path)
    path = store.path_for(h)
    path.write_text('{"format": "colorstudio.hints", "points": [')  # cut off mid-write
    with pytest.raises(DocumentError):
        store.load(h)
    store.save(_doc(h))
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(path.name + ".corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_text() == '{"format": "colorstudio.hints", "points": ['
    assert store.load(h) is not None
    # A second corrupt one in the same second gets its own name; nothing is overwritten.
    path.write_text("not json")
    AutosaveStore(tmp_path).save(_doc(h))
    assert len([p for p in tmp_path.iterdir() if ".corrupt-" in p.name]) == 2


def test_a_good_autosave_is_simply_replaced(tmp_path):
    h = "cd" * 32
    store = AutosaveStore(tmp_path)
    store.save(_doc(h))
    AutosaveStore(tmp_path).save(_doc(h))  # a fresh store checks the file it finds: readable
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{h}.json"]


def test_images_written_by_export_refuse_to_replace_a_file_that_appeared(tmp_path, monkeypatch):
    from colorstudio.core import export

    dest = tmp_path / "out.png"
    real = export._write_png

    def slow_writer(tmp, *args, **kwargs):
        real(tmp, *args, **kwargs)
        Image.fromarray(np.full((2, 2), 7, np.uint8)).save(dest)  # another run finished first

    monkeypatch.setattr(export, "_write_png", slow_writer)
    with pytest.raises(ExportError, match="out.png already exists"):
        write_image(dest, np.zeros((4, 4, 3), np.uint8))
    assert np.asarray(Image.open(dest)).shape == (2, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_signal_inside_signal_cleanup_removes_temporaries_and_restores_the_default(tmp_path, sig):
    signum = getattr(signal, sig)
    if signal.getsignal(signum) is not signal.SIG_DFL:
        pytest.skip(f"{sig} already has a handler in this process")
    with pytest.raises(atomic.Terminated) as info:
        with atomic.signal_cleanup() as installed:
            assert installed
            with atomic_path(tmp_path / "x.txt") as tmp:
                tmp.write_text("partial")
                os.kill(os.getpid(), signum)
                for _ in range(10_000):  # the handler runs between two bytecodes
                    pass
                pytest.fail("the signal's handler did not run")
    assert info.value.signum == signum and str(info.value) == sig
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signum) is signal.SIG_DFL


@posix_only
def test_batch_and_training_readers_refuse_a_fifo(tmp_path):
    from colorstudio.core.batch.step import describe_error, file_sha256
    from colorstudio.training.data import scan_folder

    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    with pytest.raises(FileError) as info:
        file_sha256(fifo)
    assert describe_error(info.value).endswith("x.png is a named pipe (FIFO), not a file; "
                                               "Colorstudio reads only regular files")
    # A training folder with a FIFO named like a photo: counted as unreadable, never waited on.
    from colorstudio.training.errors import TrainingError
    with pytest.raises(TrainingError, match="has 1 unreadable pictures"):
        scan_folder(tmp_path)
