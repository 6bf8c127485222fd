"""What the neural engines share, one concern per module (imports torch; engines import it
lazily from their private ``_name`` modules):

* ``device``: "auto" / "cpu" / "cuda" / "mps", and what running out of memory looks like;
* ``precision``: the CPU capability probe and which number formats a device may run;
* ``working``: the working size (aspect ratio kept, padded to multiples of 8) and hints;
* ``runner``: one network on one device in one precision, through its own forward;
* ``engine``: ``NeuralEngine`` / ``NeuralSession``: loading once, choosing device and
  precision, the out-of-memory fallback.
"""
from .device import DEVICES, available_devices, free_device_memory, is_out_of_memory, resolve_device
from .engine import PRECISIONS, NeuralEngine, NeuralSession, check_stop
from .precision import (AB_TOLERANCE, BFLOAT16, BFLOAT16_MIDDLE, CALIBRATION_SIZE, FLOAT16, FLOAT32, CpuCaps,
                        Precision, calibration_hints, calibration_lightness, cpu_caps, cpu_precisions,
                        native_bfloat16)
from .runner import Runner, channels_last, prepare_network
from .working import (MIN_RETRY_SIDE, MIN_SIDE, PREVIEW_SIDE, RENDER_SIDE, WorkingImage, hint_tensors,
                      prepare_lightness, round_up, shrink_side, working_shape)

__all__ = [
    "AB_TOLERANCE", "BFLOAT16", "BFLOAT16_MIDDLE", "CALIBRATION_SIZE", "DEVICES", "FLOAT16", "FLOAT32", "MIN_RETRY_SIDE",
    "MIN_SIDE", "PRECISIONS", "PREVIEW_SIDE", "RENDER_SIDE", "CpuCaps", "NeuralEngine", "NeuralSession", "Precision",
    "Runner", "WorkingImage", "available_devices", "calibration_hints", "calibration_lightness", "channels_last",
    "check_stop", "cpu_caps", "cpu_precisions", "free_device_memory", "hint_tensors", "is_out_of_memory",
    "native_bfloat16", "prepare_lightness", "prepare_network", "resolve_device", "round_up", "shrink_side",
    "working_shape",
]
