"""`torchrun --nproc_per_node=2 -m colorstudio train` on the CPU (gloo, 127.0.0.1), as real
processes: the run finishes, rank 0 alone writes the model, the model loads strictly, and both
ranks ended with the same weights (the manifest records each rank's weights digest)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .conftest import TINY

ROOT = Path(__file__).resolve().parents[2]


def _gloo_problem() -> str | None:
    import torch.distributed as dist
    if not dist.is_available():
        return "this torch build has no torch.distributed"
    if not dist.is_gloo_available():
        return "this torch build has no gloo backend"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
    except OSError as exc:
        return f"cannot open a local socket for the process group ({exc})"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLI_TINY = ["--size", str(TINY["size"]), "--batch", str(TINY["batch"]), "--workers", "0",
            "--width", str(TINY["options"]["width"]), "--depth", str(TINY["options"]["depth"]), "--seed", "1"]


@pytest.mark.parametrize("arch, length", [("unet", ["--steps", "3"]), ("pix2pix", ["--minutes", "0.02"])])
def test_torchrun_two_processes_on_the_cpu(photo_folder, models_folder, arch, length):
    problem = _gloo_problem()
    if problem:
        pytest.skip(problem)
    env = {**os.environ, "COLORSTUDIO_MODELS": str(models_folder),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "colorstudio", "train", str(photo_folder), "--arch", arch,
           *length, "--name", "twoproc", "--device", "cpu", *CLI_TINY]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("trained twoproc") == 1          # rank 0 alone reports
    manifest = json.loads((models_folder / "user" / "twoproc.json").read_text())
    dist = manifest["distributed"]
    assert dist["world_size"] == 2 and dist["backend"] == "gloo"
    first, second = dist["weights_sha256"]
    assert first == second                                     # both ranks ended with the same weights
    if arch == "unet":
        assert manifest["steps"] == 3
    else:
        assert manifest["steps"] >= 1

    from colorstudio.models.trainable import build
    from colorstudio.training.loop import weights_digest
    state = torch.load(models_folder / "user" / manifest["model_file"], map_location="cpu", weights_only=True)
    net = build(manifest["network"], manifest["options"])
    net.load_state_dict(state, strict=True)
    assert weights_digest(state) == first                      # the file holds those weights
    assert sorted(p.name for p in (models_folder / "user").iterdir()) == [
        "twoproc.json", "twoproc.pth", "twoproc.training"]
