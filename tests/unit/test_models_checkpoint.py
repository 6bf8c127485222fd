"""Safe checkpoint reading, strict loading with clear messages, checksums."""
from __future__ import annotations

import hashlib
import os
import pickle


import pytest
import torch

from colorstudio.models.checkpoint import (build_network, check_hash, hash_matches, load_network,
                                           read_state_dict, sha256_file)
from colorstudio.models.errors import ModelError
from colorstudio.models.networks import Eccv16Net
from colorstudio.models.registry import MODELS, derive, get_model


@pytest.fixture(scope="module")
def eccv16_state():
    torch.manual_seed(0)
    return Eccv16Net().state_dict()


@pytest.fixture(scope="module")
def eccv16_file(tmp_path_factory, eccv16_state):
    path = tmp_path_factory.mktemp("ckpt") / "eccv16.pth"
    torch.save(eccv16_state, path)  # as the release files are: a plain state_dict
    return path


class RunsCode:
    """A pickle payload that runs a shell command when unpickled (the attack we refuse)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_published_format_file_loads_strictly(eccv16_file, eccv16_state):
    net = load_network("eccv16", eccv16_file)
    assert isinstance(net, Eccv16Net) and not net.training
    for key, value in net.state_dict().items():
        assert torch.equal(value, eccv16_state[key])


def test_checkpoint_without_num_batches_tracked_still_loads(tmp_path, eccv16_state):
    # Checkpoints written by old PyTorch versions lack these counters.
    state = {k: v for k, v in eccv16_state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    load_network("eccv16", path)


def test_renamed_key_is_refused_naming_it(eccv16_state):
    state = dict(eccv16_state)
    state["model3.extra.weight"] = state.pop("model3.2.weight")
    with pytest.raises(ModelError, match=r"lacks the weight model3\.2\.weight"):
        build_network("eccv16", state, "x.pth")
    state = dict(eccv16_state)
    state["model9.0.weight"] = torch.zeros(1)
    with pytest.raises(ModelError, match=r"unexpected weight model9\.0\.weight"):
        build_network("eccv16", state, "x.pth")


def test_reshaped_key_is_refused_with_both_shapes(eccv16_state):
    state = dict(eccv16_state)
    state["model2.2.weight"] = torch.zeros(128, 64, 3, 3)
    with pytest.raises(ModelError) as err:
        build_network("eccv16", state, "x.pth")
    text = str(err.value)
    assert "x.pth is not a checkpoint of the eccv16 network" in text
    assert "model2.2.weight has shape 128\u00d764\u00d73\u00d73, expected 128\u00d7128\u00d73\u00d73" in text


def test_wrong_architecture_is_refused(eccv16_file):
    with pytest.raises(ModelError, match="not a checkpoint of the siggraph17 network"):
        load_network("siggraph17", eccv16_file)


@pytest.mark.parametrize("use_torch_save", [True, False])
def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path, use_torch_save):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"model1.0.weight": RunsCode(marker)}
    if use_torch_save:
        torch.save(payload, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(payload, fh)
    with pytest.raises(ModelError, match="asks to run code when opened.*nothing in it was run"):
        read_state_dict(path)
    assert not marker.exists()


def test_truncated_file_is_refused(tmp_path, eccv16_file):
    data = eccv16_file.read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="damaged or incomplete"):
        read_state_dict(path)


def test_files_that_are_not_checkpoints(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("hello, these are not weights\n")
    with pytest.raises(ModelError, match="not a model checkpoint|damaged or incomplete"):
        read_state_dict(text)
    lst = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], lst)
    with pytest.raises(ModelError, match="no named weights"):
        read_state_dict(lst)
    with pytest.raises(ModelError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")


def test_sha256_and_hub_style_prefix_check(tmp_path, monkeypatch):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000
    path.write_bytes(data)
    seen = []
    digest = sha256_file(path, progress=lambda d, t: seen.append((d, t)))
    assert digest == hashlib.sha256(data).hexdigest()
    assert seen[-1] == (len(data), len(data)) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert hash_matches(digest, digest[:8]) and hash_matches(digest, digest[:8].upper())
    assert not hash_matches(digest, "00000000" if not digest.startswith("00000000") else "11111111")
    assert not hash_matches(digest, "")
    info = derive(get_model("eccv16"), sha256_prefix=digest[:8])
    assert check_hash(path, info) == digest
    bad = derive(info, sha256_prefix="deadbeef" if not digest.startswith("deadbeef") else "beefdead")
    with pytest.raises(ModelError, match="does not match the published checksum.*delete it and install again"):
        check_hash(path, bad)


def test_registry_entries_carry_the_published_facts():
    for name, info in MODELS.items():
        assert info.name == name
        for f in info.files:
            # A short hash prefix is the one in the published file name, as torch.hub reads
            # it; files without one in their names carry the full SHA-256.
            if len(f.sha256) < 64:
                assert f"-{f.sha256}." in f.filename
            else:
                assert all(c in "0123456789abcdef" for c in f.sha256)
            assert f.url.endswith("/" + f.filename) and f.url.startswith("https://")
            assert not info.multi_file or f.part, "each file of a multi-file model names its part"
        assert info.licence in ("BSD-2-Clause", "MIT") and info.citation and info.purpose
    with pytest.raises(ModelError, match="no model called 'nope'.*siggraph17"):
        get_model("nope")
