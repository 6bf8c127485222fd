"""Devices for the neural engines: "auto" picks CUDA, then Apple's MPS, then the CPU;
"cpu", "cuda" and "mps" force one and say clearly when it is not there. Also what an
allocation failure looks like, and giving a device's cached memory back."""
from __future__ import annotations

import torch

from ..base import EngineError

DEVICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """The device kinds this machine can use, best first."""
    out = []
    if torch.cuda.is_available():
        out.append("cuda")
    if mps_available():
        out.append("mps")
    out.append("cpu")
    return out


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for a user's choice; EngineError when it is not available."""
    name = (name or "auto").strip().lower()
    if name not in DEVICES:
        raise EngineError(f"there is no device called {name!r}; choose one of: {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device(available_devices()[0])
    if name == "cuda" and not torch.cuda.is_available():
        raise EngineError("no CUDA GPU is available on this machine (or this PyTorch was built without CUDA); "
                          "use --device auto or --device cpu")
    if name == "mps" and not mps_available():
        raise EngineError("Apple's MPS GPU backend is not available on this machine; use --device auto or --device cpu")
    return torch.device(name)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device (or host) allocation failure."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "can't allocate memory" in text
                                              or "not enough memory" in text.lower())


def free_device_memory(device: torch.device) -> None:
    """Give a GPU's cached blocks back (after an out-of-memory, or when a runner goes)."""
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and mps_available() and hasattr(torch, "mps"):
        torch.mps.empty_cache()
