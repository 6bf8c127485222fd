"""Precision: which number formats a device can run a network in, and the CPU probe.

* float32 everywhere; float16 on CUDA; bfloat16 on CPUs with native bfloat16 instructions
  (AVX512-BF16, AMX, AVX-NE-CONVERT), where it is about twice as fast as float32. On other
  CPUs (AVX2 only, or AVX-512 without BF16) bfloat16 is emulated, slower than float32, and
  some oneDNN kernels refuse it outright, so it is never tried there.
* A lower precision is used only when, with the loaded weights, it stays within
  ``AB_TOLERANCE`` of float32 on a calibration picture (the engine checks at load).
* The CPU probe (:func:`cpu_caps`) runs once per process, never during a user's forward. It
  reads the CPU's flags (``/proc/cpuinfo`` where there is one), PyTorch's view
  (``torch.backends.cpu.get_cpu_capability()``, oneDNN's ``_is_mkldnn_bf16_supported``), and
  only when all of these say yes, tries one tiny bfloat16 convolution in a try/except.

``COLORSTUDIO_CPU_CAPS`` (or the ``flags`` argument) replaces the CPU's flags, to simulate a
lesser CPU: ``COLORSTUDIO_CPU_CAPS=avx2,fma`` makes this process behave as on an AVX2-only
machine (no bfloat16). It can take capabilities away, never add ones the CPU lacks.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import torch

ENV = "COLORSTUDIO_CPU_CAPS"

#: Lower precision is used only when it stays this close to float32 (ab units).
AB_TOLERANCE = 1.0
#: Side of the calibration picture for the precision check.
CALIBRATION_SIZE = 128

#: Any of these means the CPU computes in bfloat16 natively (so it pays off).
BF16_NATIVE = ("avx512_bf16", "amx_bf16", "avx_ne_convert")
#: oneDNN's bfloat16 kernels need either AVX-NE-CONVERT or all three of these.
BF16_ONEDNN = ("avx512bw", "avx512vl", "avx512dq")
#: The flags recorded with every benchmark.
REPORTED_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                  "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_ne_convert", "amx_tile", "amx_bf16", "amx_fp16")


@dataclass(frozen=True)
class Precision:
    """A number format for a network: ``dtype`` throughout, except its low-resolution
    blocks (where most of the arithmetic is) in ``middle`` when given."""

    dtype: torch.dtype = torch.float32
    middle: Optional[torch.dtype] = None

    @property
    def name(self) -> str:
        name = _dtype_name(self.dtype)
        if self.middle is not None and self.middle != self.dtype:
            name += f" ({_dtype_name(self.middle)} middle)"
        return name


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


FLOAT32 = Precision(torch.float32)
BFLOAT16 = Precision(torch.bfloat16)
FLOAT16 = Precision(torch.float16)
#: float32 with bfloat16 in the low-resolution middle: the fallback when all-bfloat16 strays.
BFLOAT16_MIDDLE = Precision(torch.float32, torch.bfloat16)


@dataclass(frozen=True)
class CpuCaps:
    """What the probe found out about this CPU."""

    flags: Optional[frozenset]   # the CPU's flags; None where the system does not list them
    capability: str              # torch.backends.cpu.get_cpu_capability(): "AVX512", "AVX2", ...
    bfloat16: bool               # native bfloat16: tried, fast, and agrees with float32
    reason: str                  # why bfloat16 is (not) used, in a sentence
    overridden: str = ""         # the COLORSTUDIO_CPU_CAPS value (or argument) in force

    def has(self, flag: str) -> Optional[bool]:
        return None if self.flags is None else flag in self.flags

    def describe(self) -> str:
        """One line for benchmark reports and logs."""
        shown = [f for f in REPORTED_FLAGS if self.flags is not None and f in self.flags]
        flags = ", ".join(shown) if self.flags is not None else "not listed by this system"
        forced = f" (flags forced by {ENV}={self.overridden})" if self.overridden else ""
        return (f"PyTorch CPU capability {self.capability}; flags: {flags}{forced}; "
                f"bfloat16: {'yes' if self.bfloat16 else 'no'} ({self.reason})")


def cpu_flags() -> Optional[frozenset]:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return None


def torch_capability() -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - an old or unusual build
        return "unknown"


def onednn_bfloat16() -> bool:
    """oneDNN's own check: whether its bfloat16 kernels run on this CPU."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - a build without oneDNN
        return False


def _trial_bfloat16() -> Optional[str]:
    """One tiny bfloat16 convolution the way the networks run (channels-last, ReLU);
    None when it runs and agrees with float32, else why not."""
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, 8, 16, 16, generator=g).contiguous(memory_format=torch.channels_last)
        w = (torch.rand(16, 8, 3, 3, generator=g) - 0.5).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            want = torch.relu(torch.nn.functional.conv2d(x, w, padding=1))
            got = torch.relu(torch.nn.functional.conv2d(x.bfloat16(), w.bfloat16(), padding=1)).float()
    except Exception as exc:  # noqa: BLE001 - any failure means: not on this CPU
        return f"a trial bfloat16 convolution failed: {exc}".splitlines()[0]
    if not torch.isfinite(got).all() or float((got - want).abs().max()) > 0.1:
        return "a trial bfloat16 convolution disagreed with float32"
    return None


def _parse(text: str) -> frozenset:
    return frozenset(f for f in re.split(r"[\s,;]+", text.strip().lower()) if f)


def cpu_caps(flags: Optional[Iterable[str]] = None) -> CpuCaps:
    """Probe this CPU (once per process and override). ``flags`` (else ``COLORSTUDIO_CPU_CAPS``
    when set) replaces the CPU's own flags, to simulate a lesser CPU."""
    if flags is not None:
        override = ",".join(sorted(_parse(" ".join(flags))))
    else:
        override = os.environ.get(ENV, "").strip()
    return _probe(override)


@functools.lru_cache(maxsize=None)
def _probe(override: str) -> CpuCaps:
    real = cpu_flags()
    flags = _parse(override) if override else real
    if override and real is not None:
        flags = flags & real  # an override takes capabilities away, never adds them
    capability = torch_capability()
    reason = _bfloat16_refusal(flags, capability)
    if reason is None:
        reason = _trial_bfloat16()
    ok = reason is None
    return CpuCaps(flags, capability, ok, "native, and a trial convolution agrees" if ok else reason, override)


def _bfloat16_refusal(flags: Optional[frozenset], capability: str) -> Optional[str]:
    """Why bfloat16 must not be tried, judged without running a kernel; None if it may be."""
    if flags is not None:
        if not any(f in flags for f in BF16_NATIVE):
            return "the CPU has no native bfloat16 instructions (" + " / ".join(BF16_NATIVE) + ")"
        if "avx_ne_convert" not in flags and not all(f in flags for f in BF16_ONEDNN):
            return "oneDNN's bfloat16 kernels need avx_ne_convert or " + ", ".join(BF16_ONEDNN)
    elif capability not in ("AVX512", "AMX") and not capability.startswith("AVX512"):
        # Without a flag list, a CPU PyTorch does not even run AVX-512 code on has no BF16.
        return f"PyTorch runs this CPU at {capability}, which has no native bfloat16"
    if not onednn_bfloat16():
        return "oneDNN says its bfloat16 kernels do not run on this CPU"
    return None


def native_bfloat16() -> bool:
    """Whether the CPU runs bfloat16 natively (the probe's answer, overrides included)."""
    return cpu_caps().bfloat16


def cpu_precisions(caps: Optional[CpuCaps] = None) -> list[Precision]:
    """The lower precisions worth trying on this CPU, fastest first (float32 always works)."""
    caps = caps or cpu_caps()
    return [BFLOAT16, BFLOAT16_MIDDLE] if caps.bfloat16 else []


def calibration_lightness(h: int = 128, w: int = 128) -> torch.Tensor:
    """A deterministic photo-like L (1,1,h,w): gradients, blobs, edges and fine texture."""
    y = torch.linspace(0, 1, h)[:, None]
    x = torch.linspace(0, 1, w)[None, :]
    L = 20 + 60 * y * (1 - 0.5 * x)
    L = L + 25 * torch.exp(-((x - 0.3) ** 2 + (y - 0.35) ** 2) / 0.02)
    L = L - 30 * ((x - 0.7).abs() < 0.12).float() * ((y - 0.6).abs() < 0.2).float()
    L = L + 6 * torch.sin(40 * x) * torch.sin(33 * y)
    return L.clamp(0, 100)[None, None]


def calibration_hints(h: int = 128, w: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """A few saturated hint patches for the calibration picture."""
    ab = torch.zeros(1, 2, h, w)
    mask = torch.zeros(1, 1, h, w)
    for (fy, fx, a, b) in ((0.3, 0.3, 60.0, 50.0), (0.6, 0.7, -40.0, -50.0), (0.8, 0.2, 10.0, 70.0)):
        cy, cx = int(fy * h), int(fx * w)
        ab[0, 0, cy - 2:cy + 3, cx - 2:cx + 3] = a
        ab[0, 1, cy - 2:cy + 3, cx - 2:cx + 3] = b
        mask[0, 0, cy - 2:cy + 3, cx - 2:cx + 3] = 1.0
    return ab, mask
