"""What importing colorstudio does to the process: OpenMP threads wait passively (unless the
user chose otherwise), set before any of our modules can import torch."""
import os
import subprocess
import sys

CODE = "import os, colorstudio; print(os.environ.get('OMP_WAIT_POLICY'))"


def _run(env):
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_colorstudio_makes_openmp_threads_wait_passively():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _run(env) == "PASSIVE"


def test_a_wait_policy_the_user_set_is_kept():
    assert _run({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
