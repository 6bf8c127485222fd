"""What the neural engines share: devices, precision, working size, fast CPU kernels.

* Devices: "auto" picks CUDA, then Apple's MPS, then the CPU; "cpu", "cuda" and "mps" force
  one and say clearly when it is not there.
* Working size: the photo keeps its aspect ratio. Its long side is resized to the working
  side (256 for previews, 512 for renders by default), then padded at the bottom and right
  to a multiple of 8 (edge-replicated L, no hints in the padding) because the networks
  halve the resolution three times; the padding is cropped from the answer.
* Precision: float32 unless a lower precision is checked, with the loaded weights, to stay
  within 1 ab unit of float32 on a calibration picture: float16 on CUDA, bfloat16 on CPUs
  with native bfloat16 instructions (where it is about 1.7x faster than float32).
* CPU speed: convolutions run through oneDNN with the ReLU / LeakyReLU / tanh and the
  decoder's skip additions fused into them, and weights reordered once per input shape
  (``OneDnnKernels``). Their output is checked against plain PyTorch when a model loads;
  if the kernels are missing or disagree, plain PyTorch (channels-last) is used.
* Out of GPU memory: retry at a smaller working size, then move to the CPU, and say so in
  ``Chroma.info["message"]``.
"""
from __future__ import annotations

import copy
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.hints import Hints, rasterize
from .base import Cancelled, Engine, EngineError, EngineSession, StopCallback

log = logging.getLogger(__name__)

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
PREVIEW_SIDE = 256
RENDER_SIDE = 512
MIN_SIDE = 16
#: The smallest working side an out-of-memory retry goes down to before moving to the CPU.
MIN_RETRY_SIDE = 128
#: Lower precision is used only when it stays this close to float32 (ab units).
AB_TOLERANCE = 1.0
#: Side of the calibration picture for the precision check, and for the fused-kernel check.
CALIBRATION_SIZE = 128
AGREEMENT_SIZE = 64


# -- devices --------------------------------------------------------------------------------

def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """The device kinds this machine can use, best first."""
    out = []
    if torch.cuda.is_available():
        out.append("cuda")
    if _mps_available():
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
    if name == "mps" and not _mps_available():
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
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and _mps_available() and hasattr(torch, "mps"):
        torch.mps.empty_cache()


# -- working size -----------------------------------------------------------------------------

def round_up(n: int, multiple: int = 8) -> int:
    return int(math.ceil(n / multiple) * multiple)


def working_shape(height: int, width: int, side: int) -> tuple[int, int]:
    """(h, w) with the photo's aspect ratio and the long side equal to ``side``."""
    scale = side / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def shrink_side(side: int) -> Optional[int]:
    """The next smaller working side to try after running out of memory, or None."""
    smaller = round_up(int(side * 0.7), 8) if side > MIN_RETRY_SIDE else 0
    return smaller if MIN_RETRY_SIDE <= smaller < side else None


@dataclass
class WorkingImage:
    """A photo's lightness at one working size, and its padded network input."""

    side: int
    size: tuple[int, int]             # (h, w) before padding
    full_size: tuple[int, int]        # (H, W) of the photo
    lightness: np.ndarray             # (h, w) float32 L at the working size
    padded: torch.Tensor              # (1, 1, H8, W8) float32 L, edge-padded, on the CPU

    @property
    def padded_size(self) -> tuple[int, int]:
        return int(self.padded.shape[2]), int(self.padded.shape[3])


def prepare_lightness(lightness: np.ndarray, side: int) -> WorkingImage:
    """Resize a full-resolution L (H, W) to the working size (antialiased), pad to 8."""
    full = np.asarray(lightness, dtype=np.float32)
    H, W = full.shape[:2]
    h, w = working_shape(H, W, side)
    src = torch.from_numpy(np.ascontiguousarray(full))[None, None]
    if (h, w) == (H, W):
        small = src.clone()
    else:
        small = F.interpolate(src, size=(h, w), mode="bilinear", align_corners=False, antialias=(h < H or w < W))
    small = small.clamp_(0.0, 100.0)
    padded = F.pad(small, (0, round_up(w) - w, 0, round_up(h) - h), mode="replicate")
    return WorkingImage(side, (h, w), (H, W), small[0, 0].numpy().copy(), padded.contiguous())


def hint_tensors(hints: Hints, work: WorkingImage,
                 should_stop: Optional[StopCallback] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints rasterised at the working size: ab (1,2,H8,W8) and a 0/1 mask (1,1,H8,W8).

    The coverage mask is thresholded at one half, as the network was trained on hard
    patches; the padding carries no hints.
    """
    (h, w), (H, W) = work.size, work.full_size
    H8, W8 = work.padded_size
    ab = torch.zeros(1, 2, H8, W8)
    mask = torch.zeros(1, 1, H8, W8)
    if hints is not None and not hints.is_empty:
        raster = rasterize(hints, W, H, w, h, should_stop=should_stop)
        on = raster.mask > 0.5
        if on.any():
            m = torch.from_numpy(on.astype(np.float32))
            mask[0, 0, :h, :w] = m
            ab[0, :, :h, :w] = torch.from_numpy(np.ascontiguousarray(raster.ab.transpose(2, 0, 1))) * m
    return ab, mask


def check_stop(should_stop: Optional[StopCallback]) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled()


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


# -- fast CPU kernels -------------------------------------------------------------------------

def onednn_available() -> bool:
    """Whether this PyTorch has the oneDNN fused-convolution kernels ``OneDnnKernels`` uses."""
    ops = getattr(torch.ops, "mkldnn", None)
    try:
        return bool(torch.backends.mkldnn.is_available() and ops is not None
                    and hasattr(ops, "_convolution_pointwise") and hasattr(ops, "_convolution_transpose_pointwise")
                    and hasattr(ops, "_reorder_convolution_weight")
                    and hasattr(ops, "_reorder_convolution_transpose_weight"))
    except Exception:  # noqa: BLE001 - a build without these ops
        return False


def native_bfloat16() -> bool:
    """Whether the CPU runs bfloat16 natively (AVX512-BF16 / AMX), so bfloat16 is faster."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001
        return False


class OneDnnKernels:
    """Convolutions through oneDNN with fused activations and skip additions.

    Plain PyTorch convolutions write their output, then a ReLU reads and writes it again,
    and reorder every weight tensor into oneDNN's blocked layout on every call. Here the
    activation (and a residual ``add``) run inside the convolution, and each weight is
    reordered once per input shape; the reordered weights of the last ``shapes_kept``
    input shapes are kept (e.g. the preview and the render size).

    Inputs must be channels-last, batch 1, in ``dtype``.
    """

    def __init__(self, dtype: torch.dtype = torch.float32, shapes_kept: int = 2):
        self.dtype = dtype
        self.shapes_kept = shapes_kept
        self._packs: "OrderedDict[tuple, dict]" = OrderedDict()
        self._current: dict = {}
        self._ops = torch.ops.mkldnn

    def begin(self, shape: tuple) -> None:
        """Select (or start) the set of reordered weights for a network input shape."""
        shape = tuple(shape)
        packs = self._packs.pop(shape, None)
        if packs is None:
            packs = {}
        self._packs[shape] = packs
        while len(self._packs) > self.shapes_kept:
            self._packs.popitem(last=False)
        self._current = packs

    def clear(self) -> None:
        self._packs.clear()
        self._current = {}

    def _weight(self, layer: nn.Module, x: torch.Tensor, transpose: bool) -> torch.Tensor:
        # Keyed by dtype too: a runner may run some blocks in bfloat16 and others in float32.
        key = (layer, x.dtype)
        w = self._current.get(key)
        if w is None:
            raw = layer.weight.detach().to(x.dtype)
            if transpose:
                w = self._ops._reorder_convolution_transpose_weight(
                    raw, list(layer.padding), list(layer.output_padding), list(layer.stride),
                    list(layer.dilation), layer.groups, list(x.shape))
            else:
                w = self._ops._reorder_convolution_weight(
                    raw, list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups, list(x.shape))
            self._current[key] = w
        return w

    def _bias(self, layer: nn.Module, dtype: torch.dtype) -> Optional[torch.Tensor]:
        if layer.bias is None:
            return None
        key = (layer, dtype, "bias")
        b = self._current.get(key)
        if b is None:
            b = self._current[key] = layer.bias.detach().to(dtype)
        return b

    def conv(self, x: torch.Tensor, layer: nn.Conv2d, post: str = "none", scalars=(),
             add: Optional[torch.Tensor] = None) -> torch.Tensor:
        """post(conv(x) [+ add])."""
        w = self._weight(layer, x, False)
        bias = self._bias(layer, x.dtype)
        if add is not None:
            return self._ops._convolution_pointwise.binary(
                x, add, w, bias, list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups,
                "add", None, post, list(scalars), "")
        return self._ops._convolution_pointwise(
            x, w, bias, list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups,
            post, list(scalars), "")

    def deconv(self, x: torch.Tensor, layer: nn.ConvTranspose2d, post: str = "none", scalars=()) -> torch.Tensor:
        w = self._weight(layer, x, True)
        bias = self._bias(layer, x.dtype)
        return self._ops._convolution_transpose_pointwise(
            x, w, bias, list(layer.padding), list(layer.output_padding), list(layer.stride),
            list(layer.dilation), layer.groups, post, list(scalars), "")

    @staticmethod
    def batch_norm(x: torch.Tensor, layer: nn.BatchNorm2d) -> torch.Tensor:
        return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias,
                            False, 0.0, layer.eps)

    def sequential(self, seq: nn.Sequential, x: torch.Tensor, skip_leading_relu: bool = False) -> torch.Tensor:
        """Run a conv/deconv/ReLU/BatchNorm Sequential, fusing each activation into its conv."""
        layers = list(seq)
        i = 1 if skip_leading_relu and layers and isinstance(layers[0], nn.ReLU) else 0
        while i < len(layers):
            layer = layers[i]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            post, scalars, step = "none", [], 1
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                if isinstance(nxt, nn.ReLU):
                    post, step = "relu", 2
                elif isinstance(nxt, nn.LeakyReLU):
                    post, scalars, step = "leaky_relu", [float(nxt.negative_slope)], 2
                elif isinstance(nxt, nn.Tanh):
                    post, step = "tanh", 2
                if isinstance(layer, nn.ConvTranspose2d):
                    x = self.deconv(x, layer, post, scalars)
                else:
                    x = self.conv(x, layer, post, scalars)
            elif isinstance(layer, nn.BatchNorm2d):
                x = self.batch_norm(x, layer)
            elif isinstance(layer, nn.ReLU):
                x = torch.relu(x)
            elif isinstance(layer, nn.LeakyReLU):
                x = F.leaky_relu(x, layer.negative_slope)
            elif isinstance(layer, nn.Tanh):
                x = torch.tanh(x)
            elif isinstance(layer, (nn.Dropout, nn.Identity)):
                pass
            else:  # pragma: no cover - our networks hold nothing else
                raise TypeError(f"OneDnnKernels cannot run {type(layer).__name__}")
            i += step
        return x


def channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


# -- the shared engine ------------------------------------------------------------------------

class Runner:
    """Runs one loaded network on one device in one precision (subclasses per network).

    ``middle`` is the dtype of the networks' low-resolution middle blocks (model4 to
    model7, where most of the arithmetic is); by default the same as ``dtype``. A float32
    runner with a bfloat16 middle is the fallback when all-bfloat16 strays too far.
    """

    def __init__(self, net: nn.Module, device: torch.device, dtype: torch.dtype, fused: bool,
                 middle: Optional[torch.dtype] = None):
        self.net = net
        self.device = device
        self.dtype = dtype
        self.middle = middle or dtype
        self.fused = fused
        self.kernels = OneDnnKernels(dtype) if fused else None

    @property
    def precision(self) -> str:
        name = str(self.dtype).replace("torch.", "")
        if self.middle != self.dtype:
            name += f" ({str(self.middle).replace('torch.', '')} middle)"
        return name

    @property
    def description(self) -> str:
        kind = "oneDNN fused kernels" if self.fused else "PyTorch kernels"
        return f"{self.device.type} {self.precision}, {kind}"

    def to_input(self, t: torch.Tensor) -> torch.Tensor:
        return channels_last(t.to(self.device, self.dtype))

    def to_middle(self, t: torch.Tensor) -> torch.Tensor:
        return t if t.dtype == self.middle else t.to(self.middle)

    def from_middle(self, t: torch.Tensor) -> torch.Tensor:
        return t if t.dtype == self.dtype else t.to(self.dtype)

    def begin(self, x: torch.Tensor) -> None:
        if self.kernels is not None:
            self.kernels.begin(tuple(x.shape))

    def release(self) -> None:
        if self.kernels is not None:
            self.kernels.clear()


class NeuralEngine(Engine):
    """An engine backed by one of the published networks (see ``colorstudio.models``).

    ``weights``: None for the installed published file (checked against its published
    checksum when ``verify``), or the path of any checkpoint of the right architecture
    (loaded without the checksum, with a warning, still strictly and safely).
    ``device``: "auto", "cpu", "cuda" or "mps". ``precision``: "auto" (see the module
    notes), or force "float32", "bfloat16" or "float16".
    The model is loaded once, lazily, on the first ``start`` (on the compute thread).
    """

    needs_weights = True
    architecture = ""
    _warned_paths: set = set()

    def __init__(self, weights: Optional[str | Path] = None, device: str = "auto", verify: bool = True,
                 precision: str = "auto", preview_side: int = PREVIEW_SIDE, render_side: int = RENDER_SIDE):
        if precision not in PRECISIONS:
            raise EngineError(f"there is no precision called {precision!r}; choose one of: {', '.join(PRECISIONS)}")
        self._device_choice = device or "auto"
        resolve_device(self._device_choice)  # fail early on a device that is not there
        self._weights = Path(weights).expanduser() if weights is not None else None
        self._verify = bool(verify)
        self._precision_choice = precision
        self.preview_side = int(preview_side)
        self.render_side = int(render_side)
        self._cpu_net: Optional[nn.Module] = None
        self.runner: Optional[Runner] = None
        self.weights_note = ""
        self.calibration_diff: Optional[float] = None
        #: Max |difference| from float32 (ab units) of each lower precision tried at load.
        self.precision_checks: dict[str, float] = {}
        self._calibration: dict = {}
        #: Sentences about how the engine had to adapt (shown once, with the next result).
        self.notices: list[str] = []

    @classmethod
    def from_network(cls, net: nn.Module, device: str = "auto", precision: str = "auto", **options) -> "NeuralEngine":
        """An engine around an already loaded network (tests, or embedding a fine-tuned one)."""
        engine = cls(weights=None, device=device, precision=precision, **options)
        engine.weights_note = "weights given in memory"
        engine._use_network(net)
        return engine

    def _use_network(self, net: nn.Module) -> None:
        self._cpu_net = net.eval()
        self._calibration = {}
        device = resolve_device(self._device_choice)
        try:
            self.runner = self._choose_runner(device)
        except Exception as exc:  # noqa: BLE001 - only a GPU too small for the model is handled
            if device.type == "cpu" or not is_out_of_memory(exc):
                raise
            free_device_memory(device)
            log.warning("%s does not fit in %s memory; running on the CPU", self.name, device.type.upper())
            self.notices.append(f"the GPU does not have enough memory for {self.name}, so it runs on the CPU (slower)")
            self._calibration = {}
            self.runner = self._choose_runner(torch.device("cpu"))
        finally:
            self._calibration = {}

    # -- subclasses ---------------------------------------------------------------------
    def make_runner(self, net: nn.Module, device: torch.device, dtype: torch.dtype, fused: bool,
                    middle: Optional[torch.dtype] = None) -> Runner:
        raise NotImplementedError

    def calibrate(self, runner: Runner, size: int = 128) -> torch.Tensor:
        """The runner's float32 CPU output for the ``size``-square calibration picture (ab units)."""
        raise NotImplementedError

    # -- loading ------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self.runner is not None

    def weights_path(self) -> Path:
        """The checkpoint this engine loads (EngineError when the model is not installed)."""
        from ..models import store
        if self._weights is not None:
            if not self._weights.is_file():
                raise EngineError(f"the weights file {self._weights} does not exist")
            return self._weights
        path = store.installed_path(self.name)
        if path is None:
            raise EngineError(store.not_installed_message(self.name))
        return path

    def load(self) -> None:
        """Load the network (once) and choose device, kernels and precision."""
        if self.runner is not None:
            return
        from ..models import ModelError
        from ..models.checkpoint import check_hash, load_network
        from ..models.registry import get_model
        path = self.weights_path()
        try:
            if self._weights is None:
                info = get_model(self.name)
                if self._verify:
                    check_hash(path, info)
                net = load_network(info.architecture, path)
                self.weights_note = f"published {self.name} weights"
            else:
                net = load_network(self.architecture, path)
                self.weights_note = f"custom weights {path} (not checked against the published checksum)"
                key = str(path.resolve())
                if key not in NeuralEngine._warned_paths:
                    NeuralEngine._warned_paths.add(key)
                    log.warning("loading %s weights from %s without the published checksum check",
                                self.name, path)
        except ModelError as exc:
            raise EngineError(str(exc)) from None
        self._use_network(net)

    def _choose_runner(self, device: torch.device) -> Runner:
        net = self._cpu_net
        assert net is not None
        choice = self._precision_choice
        # Layout changes happen outside inference mode so the parameters stay ordinary
        # tensors; only the calibration runs (each in its own inference mode).
        if device.type == "cpu":
            net.to(memory_format=torch.channels_last)
            plain = self.make_runner(net, device, torch.float32, False)
            fused = self._fused_agrees(plain)
            r32 = self.make_runner(net, device, torch.float32, True) if fused else plain
            if choice in ("bfloat16", "float16"):  # float16 convolutions are slow on CPUs
                if fused:
                    return self.make_runner(net, device, torch.bfloat16, True)
                return self.make_runner(copy.deepcopy(net).to(torch.bfloat16), device, torch.bfloat16, False)
            if choice == "auto" and fused and native_bfloat16():
                # All bfloat16, else bfloat16 only in the low-resolution middle, else float32.
                for middle_only in (False, True):
                    candidate = (self.make_runner(net, device, torch.float32, True, middle=torch.bfloat16)
                                 if middle_only else self.make_runner(net, device, torch.bfloat16, True))
                    ok = self._close_enough(r32, candidate)
                    candidate.release()
                    if ok:
                        r32.release()
                        return candidate
            r32.release()
            return r32
        if choice in ("float32", "auto") and (choice == "float32" or device.type != "cuda"):
            return self.make_runner(copy.deepcopy(net).to(device).to(memory_format=torch.channels_last),
                                    device, torch.float32, False)
        low = torch.bfloat16 if choice == "bfloat16" else torch.float16
        low_runner = self.make_runner(copy.deepcopy(net).to(device, low).to(memory_format=torch.channels_last),
                                      device, low, False)
        if choice != "auto":
            return low_runner
        r32 = self.make_runner(copy.deepcopy(net).to(device).to(memory_format=torch.channels_last),
                               device, torch.float32, False)
        if self._close_enough(r32, low_runner):
            del r32
            free_device_memory(device)
            return low_runner
        del low_runner
        free_device_memory(device)
        return r32

    def _calibrated(self, runner: Runner, size: int) -> torch.Tensor:
        key = (id(runner), size)
        cached = self._calibration.get(key)
        if cached is None or cached[0] is not runner:
            cached = (runner, self.calibrate(runner, size))
            self._calibration[key] = cached
        return cached[1]

    def _fused_agrees(self, plain: Runner) -> bool:
        """Use the oneDNN kernels only if they exist and reproduce plain PyTorch here."""
        if not onednn_available():
            return False
        try:
            fused_runner = self.make_runner(plain.net, plain.device, torch.float32, True)
            # Agreement is about arithmetic, not content: a small picture is enough.
            reference = self._calibrated(plain, AGREEMENT_SIZE)
            fused = self.calibrate(fused_runner, AGREEMENT_SIZE)
            fused_runner.release()
        except Exception as exc:  # noqa: BLE001 - any failure means: do not use them
            log.info("oneDNN fused kernels unavailable (%s); using plain PyTorch", exc)
            return False
        diff = float((reference - fused).abs().max())
        if not diff <= 1e-2:
            log.warning("oneDNN fused kernels differ from PyTorch by %.3g ab; not using them", diff)
            return False
        return True

    def _close_enough(self, reference: Runner, candidate: Runner) -> bool:
        """Whether ``candidate`` (a lower precision) stays within AB_TOLERANCE of ``reference``."""
        try:
            a = self._calibrated(reference, CALIBRATION_SIZE)
            b = self.calibrate(candidate, CALIBRATION_SIZE)
        except Exception as exc:  # noqa: BLE001
            log.info("%s precision unavailable (%s)", candidate.precision, exc)
            return False
        diff = float((a - b).abs().max())
        ok = diff <= AB_TOLERANCE
        self.calibration_diff = diff
        self.precision_checks[candidate.precision] = diff
        log.info("%s %s vs float32 on the calibration picture: max %.3f ab -> %s", self.name,
                 candidate.precision, diff, "used" if ok else "not used")
        return ok

    def switch_to_cpu(self) -> None:
        """Move to the CPU (after the GPU ran out of memory)."""
        old = self.runner
        self.runner = None
        if old is not None:
            old.release()
            device = old.device
            del old
            free_device_memory(device)
        self._calibration = {}
        self.runner = self._choose_runner(torch.device("cpu"))
        self._calibration = {}

    def close(self) -> None:
        if self.runner is not None:
            device = self.runner.device
            self.runner.release()
            self.runner = None
            free_device_memory(device)
        self._cpu_net = None

    # -- working sizes and running --------------------------------------------------------
    def side_for(self, quality: str, max_side: Optional[int], photo_side: Optional[int] = None) -> int:
        """The working long side: the preview side, or for renders the render side but no
        more than the photo's own long side (enlarging a small photo past the preview side
        adds work, not detail); ``max_side`` caps either."""
        if quality not in ("preview", "render"):
            raise EngineError(f"quality must be 'preview' or 'render', not {quality!r}")
        side = self.preview_side
        if quality == "render":
            side = self.render_side
            if photo_side is not None:
                side = min(side, max(self.preview_side, int(photo_side)))
        if max_side is not None:
            side = min(side, int(max_side))
        return max(MIN_SIDE, side)

    def run_with_fallback(self, compute: Callable[[int], T], side: int) -> tuple[T, list[str]]:
        """``compute(side)`` on the current device; on running out of GPU memory retry at a
        smaller side, then on the CPU. Returns the result and sentences about what changed."""
        messages: list[str] = []
        current = side
        while True:
            assert self.runner is not None
            try:
                return compute(current), messages
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - only memory failures are handled here
                if not is_out_of_memory(exc):
                    raise
                device = self.runner.device
                if device.type == "cpu":
                    raise EngineError(f"there is not enough memory to run {self.name} at {current} px; close "
                                      f"other programs or choose a smaller working size") from None
                free_device_memory(device)
                smaller = shrink_side(current)
                if smaller is not None:
                    log.warning("%s ran out of %s memory at %d px; retrying at %d px", self.name,
                                device.type.upper(), current, smaller)
                    messages.append(f"the GPU ran out of memory at {current} px, so {self.name} worked at "
                                    f"{smaller} px")
                    current = smaller
                    continue
                log.warning("%s ran out of %s memory; moving to the CPU", self.name, device.type.upper())
                self.switch_to_cpu()
                messages.append(f"the GPU ran out of memory, so {self.name} now runs on the CPU (slower)")
                current = side


class NeuralSession(EngineSession):
    """Per-photo state: the photo's L and its working-size versions (a few kept)."""

    def side_for(self, quality: str, max_side: Optional[int]) -> int:
        return self.engine.side_for(quality, max_side, max(self.full_lightness.shape[:2]))

    keep_sizes = 3

    def __init__(self, engine: NeuralEngine, lightness: np.ndarray):
        light = np.asarray(lightness)
        if light.ndim != 2 or light.size == 0:
            raise EngineError("the photo's lightness must be a non-empty 2-D array")
        self.engine = engine
        self.full_lightness = light
        self._working: "OrderedDict[int, WorkingImage]" = OrderedDict()

    def working(self, side: int) -> WorkingImage:
        work = self._working.pop(side, None)
        if work is None:
            work = prepare_lightness(self.full_lightness, side)
        self._working[side] = work
        while len(self._working) > self.keep_sizes:
            self._working.popitem(last=False)
        return work

    def info(self, work: WorkingImage, messages: list[str]) -> dict:
        runner = self.engine.runner
        info = {"engine": self.engine.name,
                "device": runner.device.type if runner else "cpu",
                "precision": runner.precision if runner else "float32",
                "kernels": runner.description if runner else "",
                "working_size": (work.size[1], work.size[0]),
                "weights": self.engine.weights_note}
        messages = [*self.engine.notices, *messages]
        self.engine.notices.clear()
        if messages:
            info["message"] = "; ".join(messages)
        return info
