"""`colorstudio batch` as a real subprocess: exit status, JSON lines, report, SIGKILL and resume, the lock."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from batch_tree import PHOTOS as SHARED_PHOTOS, build_batch_tree, tree_hashes  # noqa: E402



def _isolated_env(home: Path) -> dict:
    """The environment the ``cli`` fixture gives its subprocesses (user folders in ``home``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLORSTUDIO_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
               COLORSTUDIO_MODELS=str(home / "models"), COLORSTUDIO_DATA=str(home / "colorstudio"),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return env

pytestmark = pytest.mark.skipif(not SHARED_PHOTOS.is_dir(), reason="the shared test photos are absent")


@pytest.fixture
def tree(tmp_path, isolated_home):
    autosave = isolated_home / "colorstudio" / "autosave"  # the isolated user's own autosave folder
    t = build_batch_tree(tmp_path, autosave=autosave, extra_photos=10)
    t["out"] = tmp_path / "out"
    return t


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_batch_records_each_photo_reports_and_exits_3_when_some_failed(cli, tree, tmp_path):
    before = tree_hashes(tree["src"])
    report = tmp_path / "report.csv"
    r = cli("batch", tree["src"], tree["out"], "--recursive", "--mode", "hints", "--json", "--report", report)
    assert r.rc == 3, r.err
    lines = _lines(r.out)
    summary = lines[-1]
    assert summary["summary"]["done"] == len(tree["documented"]) and summary["summary"]["failed"] == 2
    assert summary["manifest"] == str(tree["out"] / "colorstudio-batch.sqlite")
    # No --jobs: as many workers as suit this machine (--jobs auto), and the summary says how many.
    from colorstudio.core.batch import BatchSettings
    from colorstudio.core.batch.run import default_jobs
    assert summary["jobs"] == default_jobs(BatchSettings(mode="hints")) >= 1
    assert "2 photos failed" in r.err and "--retry-failed" in r.err and "Traceback" not in r.err
    rows = {row["source"]: row for row in csv.DictReader(report.open())}
    assert rows["truncated.jpg"]["status"] == "failed" and "truncated" in rows["truncated.jpg"]["error"]
    assert rows["nested/deep16.tif"]["status"] == "done" and rows["nested/deep16.tif"]["output_sha256"]
    assert tree_hashes(tree["src"]) == before
    r = cli("batch", tree["src"], tree["out"], "--recursive", "--mode", "hints", "--json")
    assert r.rc == 3 and _lines(r.out)[-1]["summary"]["up_to_date"] == len(tree["documented"])


def test_user_errors_are_one_sentence_and_exit_2(cli, tree):
    r = cli("batch", tree["src"], tree["src"] / "out", "--mode", "hints")
    assert r.rc == 2 and "inside the source folder" in r.err and len(r.err_lines) == 1
    assert not (tree["src"] / "out").exists()
    r = cli("batch", tree["src"] / "missing", tree["out"])
    assert r.rc == 2 and "does not exist" in r.err
    r = cli("batch", tree["src"], tree["out"], "--mode", "reference")
    assert r.rc == 2 and "--reference" in r.err
    r = cli("batch", tree["src"], tree["out"], "--mode", "auto")
    assert r.rc == 2 and "needs a neural model" in r.err
    # A named engine whose model this machine lacks: refused before any photo, not 13 failures.
    r = cli("batch", tree["src"], tree["out"], "--mode", "auto", "--engine", "siggraph17", "--recursive")
    assert r.rc == 2 and len(r.err_lines) == 1, r.err
    assert "siggraph17 model is not installed" in r.err and "no photo was started" in r.err
    assert not tree["out"].exists()
    for bad in ("0", "many"):
        r = cli("batch", tree["src"], tree["out"], "--mode", "hints", "--jobs", bad)
        assert r.rc == 2 and "--jobs" in r.err and "auto or a whole number from 1 to 256" in r.err
    r = cli("batch", tree["src"], tree["out"], "--dry-run", "--mode", "hints", "--jobs", "auto")
    assert r.rc == 0
    r = cli("batch", tree["src"], tree["out"], "--dry-run", "--mode", "hints", "--recursive")
    assert r.rc == 0 and "would colorize" in r.out and not tree["out"].exists()


def test_a_second_batch_on_the_same_output_refuses_while_the_first_runs(cli, tree, isolated_home):
    tree["out"].mkdir()
    # A real batch that holds the lock: it is stopped (SIGSTOP) as soon as it has started work.
    first = subprocess.Popen([sys.executable, "-m", "colorstudio", "batch", str(tree["src"]), str(tree["out"]),
                              "--recursive", "--mode", "hints", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_isolated_env(isolated_home))
    try:
        first.stdout.readline()  # the first record: the lock is held by now
        first.send_signal(signal.SIGSTOP)
        r = cli("batch", tree["src"], tree["out"], "--recursive", "--mode", "hints")
        assert r.rc == 2 and "another batch is writing to" in r.err and str(first.pid) in r.err
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=120)
        assert first.returncode == 3, err
    finally:
        if first.poll() is None:
            first.kill()
    r = cli("batch", tree["src"], tree["out"], "--recursive", "--mode", "hints", "--json")
    assert r.rc == 3 and _lines(r.out)[-1]["summary"]["up_to_date"] == len(tree["documented"])


def _complete(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:  # noqa: BLE001
        return False


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            out.append(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigkill_at_several_points_then_a_rerun_completes_each_photo_once(tree, isolated_home, jobs):
    """Also with --jobs 2 --processes (worker processes): they die with the coordinator, so
    nothing goes on writing after the kill."""
    import sqlite3
    cmd = [sys.executable, "-m", "colorstudio", "batch", str(tree["src"]), str(tree["out"]), "--recursive",
           "--mode", "hints", "--json", "--jobs", jobs] + (["--processes"] if jobs == "2" else [])
    env = _isolated_env(isolated_home)
    done_before: set = set()
    killed_with_workers = 0
    for kill_after in (0, 3, 6, 9):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        seen = 0
        while seen < kill_after:
            line = proc.stdout.readline()
            if not line:
                break
            seen += 1
        workers = _children(proc.pid) if sys.platform.startswith("linux") else []
        killed_with_workers += len(workers) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        deadline = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)   # the kernel delivers the workers' death signal on its own time
        assert not [w for w in workers if _alive(w)], "a worker outlived the killed batch"
        if not (tree["out"] / "colorstudio-batch.sqlite").exists():
            continue
        # No output under its real name is ever partial; temporaries are hidden .part files.
        for p in tree["out"].rglob("*"):
            if p.is_file() and not p.name.startswith(".") and not p.name.startswith("colorstudio-batch"):
                assert _complete(p), p
        db = sqlite3.connect(tree["out"] / "colorstudio-batch.sqlite")
        done_now = {r[0] for r in db.execute("SELECT source FROM photos WHERE status = 'done'")}
        db.close()
        assert done_before <= done_now  # a kill never loses a finished photo
        done_before = done_now
    if jobs == "2" and sys.platform.startswith("linux"):
        assert killed_with_workers   # the kills did land while worker processes were running
    final = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert final.returncode == 3, final.stderr
    records = [r for r in _lines(final.stdout) if "source" in r]
    redone = {r["source"] for r in records if r["status"] == "done" and not r.get("up_to_date")}
    up_to_date = {r["source"] for r in records if r.get("up_to_date")}
    assert redone.isdisjoint(done_before)  # nothing finished before is done twice
    assert redone | up_to_date == set(tree["documented"])
    assert len(records) == len({r["source"] for r in records})
    assert not list(tree["out"].rglob(".*.part"))
    for rel in tree["documented"]:
        assert _complete(tree["out"] / rel)
