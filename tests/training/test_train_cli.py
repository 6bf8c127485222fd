"""`colorstudio train` end to end in this process: a trained model colorizes through
`colorstudio colorize --engine NAME`; each error is one sentence, exit 2, nothing lost."""
from __future__ import annotations

import errno
import shutil

import numpy as np
import pytest
from PIL import Image

from colorstudio.cli import main

TINY = ["--size", "32", "--batch", "2", "--workers", "0", "--width", "8", "--depth", "3", "--seed", "1"]


def one_sentence(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.startswith("colorstudio:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_then_colorize_with_the_new_engine(photo_folder, tmp_path, capsys):
    assert main(["train", str(photo_folder), "--arch", "unet", "--steps", "3", "--name", "town", *TINY]) == 0
    out = capsys.readouterr().out
    assert "trained town" in out and "held-out mean" in out
    src = photo_folder / "sub" / "grey.png"
    dest = tmp_path / "colour.png"
    assert main(["colorize", str(src), "-o", str(dest), "--mode", "auto", "--engine", "town", "--device", "cpu"]) == 0
    assert "engine town" in capsys.readouterr().err
    got = np.asarray(Image.open(dest).convert("RGB"))
    assert got.shape[:2] == np.asarray(Image.open(src)).shape[:2]
    assert main(["models", "list"]) == 0
    assert "town" in capsys.readouterr().out


def test_a_folder_without_colour_photos(tmp_path, photo_folder, capsys):
    grey = tmp_path / "grey"
    grey.mkdir()
    shutil.copy(photo_folder / "sub" / "grey.png", grey / "a.png")
    assert main(["train", str(grey), "--steps", "2", *TINY]) == 2
    assert "no colour photos" in one_sentence(capsys.readouterr().err)


def test_a_folder_of_broken_files(tmp_path, capsys, models_folder):
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"p{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short" * (i + 1))
    assert main(["train", str(broken), "--steps", "2", *TINY]) == 2
    assert "3 unreadable" in one_sentence(capsys.readouterr().err)
    assert not (models_folder / "user").exists() or not any((models_folder / "user").rglob("*.pth"))


def test_a_full_disk_at_checkpoint_time_keeps_the_last_checkpoint(photo_folder, capsys, monkeypatch, models_folder):
    import torch

    from colorstudio.training.loop import read_checkpoint
    real_save = torch.save
    calls = []

    def save(obj, f, *a, **kw):
        calls.append(1)
        if len(calls) >= 2:   # the first checkpoint goes through, the second finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", save)
    rc = main(["train", str(photo_folder), "--steps", "6", "--checkpoint-every", "2", "--name", "full", *TINY])
    assert rc == 2
    sentence = one_sentence(capsys.readouterr().err)
    assert "disk is full" in sentence and "step 4" in sentence and "--resume" in sentence
    folder = models_folder / "user" / "full.training"
    assert [p.name for p in folder.iterdir()] == ["checkpoint.pt"]     # no half-written file left
    assert read_checkpoint(folder / "checkpoint.pt")["step"] == 2
    monkeypatch.setattr(torch, "save", real_save)
    assert main(["train", str(photo_folder), "--steps", "6", "--checkpoint-every", "2", "--name", "full", "--resume",
                 *TINY]) == 0


def test_resume_with_another_architecture(photo_folder, capsys, models_folder):
    steps = ["--steps", "2", "--name", "mixed"]
    assert main(["train", str(photo_folder), "--arch", "unet", *steps, *TINY]) == 0
    ckpt = models_folder / "user" / "mixed.training" / "checkpoint.pt"
    before = ckpt.read_bytes()
    manifest = (models_folder / "user" / "mixed.json").read_bytes()
    assert main(["train", str(photo_folder), "--arch", "vae", "--resume", *steps, *TINY]) == 2
    sentence = one_sentence(capsys.readouterr().err)
    assert "is a unet network, not vae" in sentence and "--arch unet" in sentence
    assert ckpt.read_bytes() == before and (models_folder / "user" / "mixed.json").read_bytes() == manifest
