"""Held-out samples re-colorized during a training (the app's live strip), without Qt."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from colorstudio.training.loop import TrainConfig, train

from .conftest import TINY


def config(folder, **kw) -> TrainConfig:
    return TrainConfig(str(folder), **{**TINY, "evaluate": False, "checkpoint_every": 100, **kw})


def test_samples_come_at_the_start_every_n_steps_and_at_the_end(photo_folder):
    # The VAE draws noise from torch's generator every step: drawing samples must not change
    # the training, so the weights equal those of a run without samples.
    got = []
    result = train(config(photo_folder, arch="vae", steps=5, samples_every=2, samples_count=2, name="with"),
                   on_samples=lambda step, samples: got.append((step, samples)))
    assert result.finished
    assert [s for s, _ in got] == [0, 2, 4, 5]
    counts = {len(samples) for _, samples in got}
    assert len(counts) == 1, "every strip shows the same held-out photos"
    from colorstudio.training.data import scan_folder
    split = scan_folder(photo_folder, TrainConfig(str(photo_folder)).held_out_share)
    shown = split.held_out or split.train           # the held-out photos, else the training ones
    assert counts == {min(2, len(shown))}
    for _, samples in got:
        assert len(samples) == min(2, len(shown))
        assert [s.name for s in samples] == [Path(p.path).name for p in shown[:2]]
        for s in samples:
            for pic in (s.grey, s.model, s.truth):
                assert pic.dtype == np.uint8 and pic.shape == (32, 32, 3)
            spread = s.grey.astype(int).max(axis=2) - s.grey.astype(int).min(axis=2)
            assert spread.max() <= 1                                    # the grey input is grey
            assert np.abs(s.truth.astype(int) - s.grey.astype(int)).max() > 10   # the truth has colour
            assert s.name.endswith(".png")
    first, last = got[0][1][0].model, got[-1][1][0].model
    assert not np.array_equal(first, last)   # the weights changed, and so did the colouring

    plain = train(config(photo_folder, arch="vae", steps=5, name="without"))
    from colorstudio.models import user as store
    a = torch.load(store.model_paths("with")[0], weights_only=True)
    b = torch.load(store.model_paths("without")[0], weights_only=True)
    assert plain.finished
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
