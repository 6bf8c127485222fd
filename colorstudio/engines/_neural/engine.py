"""The shared neural engine: loading a network once, choosing its device and precision,
running it at a working size, and falling back when a GPU runs out of memory.

* Precision "auto": float32, unless a lower precision the device has (see ``precision``)
  stays within ``AB_TOLERANCE`` of float32 with the loaded weights on a calibration picture:
  float16 on CUDA; on CPUs with native bfloat16, all-bfloat16, else bfloat16 only in the
  network's low-resolution blocks. A precision the device lacks is never tried: forcing
  "bfloat16" (or "float16") on a CPU without native bfloat16 runs float32 and says so.
* Out of GPU memory: retry at a smaller working size, then move to the CPU, and say so in
  ``Chroma.info["message"]``.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Optional, TypeVar

import numpy as np
import torch
from torch import nn

from ...core.hints import Hints
from ..base import Cancelled, Engine, EngineError, EngineSession, StopCallback
from .device import free_device_memory, is_out_of_memory, resolve_device
from .precision import (AB_TOLERANCE, BFLOAT16, CALIBRATION_SIZE, FLOAT16, FLOAT32, Precision, cpu_caps,
                        cpu_precisions)
from .runner import Runner
from .working import (MIN_SIDE, PREVIEW_SIDE, RENDER_SIDE, WorkingImage, prepare_lightness, round_up,
                      shrink_side, working_shape)

log = logging.getLogger(__name__)

T = TypeVar("T")

PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def check_stop(should_stop: Optional[StopCallback]) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled()


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
    def make_runner(self, net: nn.Module, device: torch.device, precision: Precision = FLOAT32) -> Runner:
        """A runner of ``net`` on ``device`` in ``precision`` (see ``runner.prepare_network``)."""
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
        from ...models import store
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
        from ...models import ModelError
        from ...models.checkpoint import check_hash, load_network
        from ...models.registry import get_model
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
        if device.type == "cpu":
            return self._choose_cpu_runner(net, choice)
        if choice == "float32" or (choice == "auto" and device.type != "cuda"):
            return self.make_runner(net, device, FLOAT32)
        low = self.make_runner(net, device, BFLOAT16 if choice == "bfloat16" else FLOAT16)
        if choice != "auto":
            return low
        r32 = self.make_runner(net, device, FLOAT32)
        if self._close_enough(r32, low):
            r32.release()
            del r32
            free_device_memory(device)
            return low
        low.release()
        del low
        free_device_memory(device)
        return r32

    def _choose_cpu_runner(self, net: nn.Module, choice: str) -> Runner:
        """float32, or the fastest lower precision this CPU has natively that stays close
        enough; a precision the CPU lacks is never tried (the probe says so up front)."""
        r32 = self.make_runner(net, torch.device("cpu"), FLOAT32)
        if choice == "float32":
            return r32
        caps = cpu_caps()
        candidates = [p for p in cpu_precisions(caps) if self._can_run(net, p)]
        if choice in ("bfloat16", "float16"):  # float16 convolutions are slow on CPUs: bfloat16
            if caps.bfloat16:
                r32.release()
                return self.make_runner(net, torch.device("cpu"), BFLOAT16)
            self.notices.append(f"this CPU cannot run {choice} natively ({caps.reason}), so {self.name} "
                                f"runs in float32")
            log.info("%s: %s asked for, but %s; using float32", self.name, choice, caps.reason)
            return r32
        for precision in candidates:
            candidate = self.make_runner(net, torch.device("cpu"), precision)
            if self._close_enough(r32, candidate):
                r32.release()
                return candidate
            candidate.release()
        return r32

    @staticmethod
    def _can_run(net: nn.Module, precision: Precision) -> bool:
        """A mixed precision needs the network to name its low-resolution blocks."""
        return precision.middle is None or bool(getattr(net, "low_resolution_blocks", ()))

    def _calibrated(self, runner: Runner, size: int) -> torch.Tensor:
        key = (id(runner), size)
        cached = self._calibration.get(key)
        if cached is None or cached[0] is not runner:
            cached = (runner, self.calibrate(runner, size))
            self._calibration[key] = cached
        return cached[1]

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

    # -- photos together ------------------------------------------------------------------
    #: At most this many photos in one pass of the network (:meth:`chroma_together`).
    max_together = 8

    @property
    def goes_together(self) -> bool:
        """Whether this engine's network takes photos together: it has a :meth:`forward_together`."""
        return type(self).forward_together is not NeuralEngine.forward_together

    def together_key(self, height: int, width: int):
        """Photos whose render working sizes pad to the same network input go together."""
        if not self.goes_together:
            return None
        side = self.side_for("render", None, max(int(height), int(width)))
        h, w = working_shape(int(height), int(width), side)
        return (side, round_up(h), round_up(w))

    def forward_together(self, works: list, hints: list, should_stop: Optional[StopCallback] = None):
        """One pass of the network for the stacked ``works`` (WorkingImages of one padded
        size) with their ``hints``: (ab (N, 2, H8, W8) float32 on the CPU, a per-photo extra
        for the session's :meth:`NeuralSession.answer`, or None). Under inference mode."""
        raise NotImplementedError

    def chroma_together(self, items: list, should_stop: Optional[StopCallback] = None) -> list:
        """The render chroma of several photos, in their order: those whose working sizes pad
        to one network input go through the network in passes of up to
        :attr:`max_together` (on a GPU, one pass for many photos keeps the device busy). When
        a pass runs out of memory, its photos go one at a time instead, each with the usual
        fallbacks (a smaller size, then the CPU)."""
        if len(items) < 2 or not self.goes_together:
            return super().chroma_together(items, should_stop)
        self.load()
        hints = [h if h is not None else Hints() for _, h in items]
        works = [session.working(session.side_for("render", None)) for session, _ in items]
        by_size: dict = {}
        for i, work in enumerate(works):
            by_size.setdefault((work.side, work.padded_size), []).append(i)
        out: list = [None] * len(items)
        for members in by_size.values():
            for start in range(0, len(members), self.max_together):
                part = members[start:start + self.max_together]
                check_stop(should_stop)
                passed = self._pass_together(part, works, hints, should_stop) if len(part) > 1 else None
                if passed is None:     # alone, or out of memory together: one at a time
                    for i in part:
                        out[i] = items[i][0].chroma(hints[i], quality="render", should_stop=should_stop)
                    continue
                ab, extras = passed
                for k, i in enumerate(part):
                    chroma = items[i][0].answer(works[i], ab[k:k + 1], hints[i], [],
                                                None if extras is None else extras[k])
                    chroma.info["together"] = len(part)
                    out[i] = chroma
        return out

    def _pass_together(self, part: list, works: list, hints: list, should_stop):
        """:meth:`forward_together` for the photos ``part`` (indices), or None when the device
        ran out of memory (its cached blocks given back)."""
        try:
            with torch.inference_mode():
                return self.forward_together([works[i] for i in part], [hints[i] for i in part], should_stop)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - only memory failures are handled here
            if not is_out_of_memory(exc):
                raise
        free_device_memory(self.runner.device)
        log.warning("%s ran out of %s memory with %d photos together; taking them one at a time",
                    self.name, self.runner.device.type.upper(), len(part))
        return None


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

    def answer(self, work: WorkingImage, out: torch.Tensor, hints: Hints, messages: list, extra=None):
        """The session's Chroma for the network's answer ``out`` (1, 2, H8, W8) at ``work``'s
        size (``extra``: what :meth:`NeuralEngine.forward_together` gave for this photo)."""
        raise NotImplementedError

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
