"""What importing colorstudio does to the process: OpenMP threads wait passively and
OpenBLAS threads sleep at once after their work (unless the user chose otherwise), set
before any of our modules can import torch or numpy."""
import os
import subprocess
import sys

CODE = ("import os, sys, colorstudio; print(os.environ.get('OMP_WAIT_POLICY'), "
        "os.environ.get('OPENBLAS_THREAD_TIMEOUT'), 'numpy' in sys.modules)")


def _run(env):
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_colorstudio_makes_openmp_and_openblas_threads_wait_passively():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    # Set before numpy (and so OpenBLAS, which reads it when it loads) is imported.
    assert _run(env) == "PASSIVE 4 False"


def test_a_wait_policy_the_user_set_is_kept():
    env = {**os.environ, "OMP_WAIT_POLICY": "ACTIVE", "OPENBLAS_THREAD_TIMEOUT": "28"}
    assert _run(env) == "ACTIVE 28 False"
