"""`colorize --weights` with a damaged or hostile checkpoint: exit 2, one sentence naming the file."""
from __future__ import annotations

import pytest
import torch

from colorstudio.models.testing import test_checkpoint


@pytest.fixture(scope="session")
def eccv16_file(tmp_path_factory):
    return test_checkpoint(tmp_path_factory.getbasetemp() / "neural-test-checkpoints", "eccv16")


def refused(run, *fragments):
    assert run.rc == 2, (run.rc, run.err)
    assert len(run.err.splitlines()) == 1 and run.err.startswith("colorstudio: "), run.err
    assert "Traceback" not in run.err and "Warning" not in run.err
    for fragment in fragments:
        assert fragment in run.err, (fragment, run.err)


def colorize(main, photo, out, weights):
    return main("colorize", photo, "-o", out, "--mode", "auto", "--engine", "eccv16", "--weights", weights,
                "--device", "cpu")


def test_nan_weights_are_refused_naming_the_file(main, photo, tmp_path, eccv16_file, files):
    state = torch.load(eccv16_file, weights_only=True)
    state["model8.6.weight"].view(-1)[::97] = float("nan")
    poisoned = tmp_path / "poisoned.pth"
    torch.save(state, poisoned)
    before = files.snapshot(tmp_path)
    refused(colorize(main, photo, tmp_path / "out.png", poisoned),
            "poisoned.pth is damaged: its weight model8.6.weight holds values that are not finite numbers")
    assert files.snapshot(tmp_path) == before


@pytest.mark.parametrize("keep", [30_000, 0.5])
def test_a_truncated_checkpoint_is_incomplete_or_damaged(main, photo, tmp_path, eccv16_file, keep):
    data = eccv16_file.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    run = colorize(main, photo, tmp_path / "out.png", cut)
    refused(run, "cut.pth is incomplete or damaged")
    assert "Invalid argument" not in run.err
    assert not (tmp_path / "out.png").exists()
