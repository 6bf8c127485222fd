"""The engine classes of user-trained networks (torch). See ``engines/user.py``.

``trained__NAME`` (a module attribute, made on first use) is the engine class of the user
model NAME: a fine-tuned siggraph17 runs as the siggraph17 engine does (hints, suggestions);
the other networks (U-Net, pix2pix generator, VAE, restorer) run through :class:`UserNetEngine`
in float32 with plain PyTorch kernels. Weights are read with ``weights_only=True``, checked
against the SHA-256 in the model's manifest, and loaded strictly.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..core.hints import Hints
from .base import Chroma, EngineError, StopCallback
from ._neural import FLOAT32, NeuralEngine, NeuralSession, Runner, check_stop
from .user import PREFIX

_classes: dict = {}


def _load_user_network(engine, model):
    from ..models import ModelError
    from ..models.checkpoint import check_state_dict, read_state_dict, sha256_file
    from ..models.trainable import build
    path = engine._weights or model.model_path
    try:
        if engine._weights is None and engine._verify and sha256_file(path) != model.sha256:
            raise EngineError(f"the model file {path} is not the one {model.name} was trained into (its SHA-256 "
                              f"differs from the manifest's); train {model.name} again")
        state = read_state_dict(path)
        net = build(model.network, model.options)
        check_state_dict(net, state, model.name, str(path))
        net.load_state_dict(state, strict=True)
    except ModelError as exc:
        raise EngineError(str(exc)) from None
    engine.weights_note = f"your trained model {model.name} ({model.architecture}, {model.manifest.get('steps', '?')} steps)"
    return net


class UserRunner(Runner):
    def forward(self, lightness, ab=None, mask=None, sample: int = 0) -> torch.Tensor:
        move = (lambda t: None if t is None else t.to(self.device, self.dtype))
        return self.net.colorize(move(lightness), move(ab), move(mask), sample=sample).float().cpu()


def _registered(name: str):
    """The user model ``name`` from the store; an EngineError (one sentence) when it is gone."""
    from ..models import ModelError
    from ..models.user import get_user_model
    try:
        return get_user_model(name)
    except ModelError as exc:
        raise EngineError(str(exc)) from None


class UserNetEngine(NeuralEngine):
    """A trained U-Net, pix2pix generator, VAE or restorer."""

    architecture = "user"
    model = None    # the UserModel (set on the subclass made for it)

    def load(self) -> None:
        if self.runner is not None:
            return
        self.model = _registered(self.name)
        self._use_network(_load_user_network(self, self.model))

    def _choose_runner(self, device: torch.device) -> Runner:
        # float32, in the network's own memory layout (these networks are not calibrated).
        net = self._cpu_net if device.type == "cpu" else __import__("copy").deepcopy(self._cpu_net).to(device)
        return UserRunner(net, device, FLOAT32, prepared=True)

    def make_runner(self, net, device, precision=FLOAT32) -> UserRunner:
        return UserRunner(net, device, precision)

    @property
    def needs_colour(self) -> bool:
        return int(self.model.options.get("in_channels", 1)) == 3 if self.model else False

    def start(self, lightness: np.ndarray, photo=None) -> "UserNetSession":
        self.load()
        return UserNetSession(self, lightness, photo)


class UserNetSession(NeuralSession):
    engine: UserNetEngine

    def __init__(self, engine: UserNetEngine, lightness: np.ndarray, photo=None):
        super().__init__(engine, lightness)
        self._colour = None
        if engine.needs_colour:
            self._colour = self._read_colour(photo)

    def _read_colour(self, photo):
        path = getattr(photo, "path", None)
        if photo is None or not getattr(photo, "was_color", False) or path is None:
            raise EngineError(f"{self.engine.name} restores faded colour photos; this photo has no colour to restore")
        from PIL import Image, ImageOps
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((2048, 2048), Image.BILINEAR)
            return im.copy()

    def _colour_ab(self, w: int, h: int, W8: int, H8: int) -> torch.Tensor:
        from ..core.color import rgb_to_lab
        from PIL import Image
        rgb = np.asarray(self._colour.resize((w, h), Image.BILINEAR), np.float32) / 255.0
        ab = torch.from_numpy(rgb_to_lab(rgb)[..., 1:].transpose(2, 0, 1).copy())[None]
        return F.pad(ab, (0, W8 - w, 0, H8 - h), mode="replicate")

    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None,
               should_stop: Optional[StopCallback] = None) -> Chroma:
        engine = self.engine
        engine.load()
        side = self.side_for(quality, max_side)
        sample = int((options or {}).get("sample", 0))
        from ..models.trainable import multiple
        m = multiple(engine.runner.net)

        def compute(s: int):
            work = self.working(s)
            h, w = work.size
            H8 = -(-h // m) * m
            W8 = -(-w // m) * m
            L = F.pad(work.padded[:, :, :h, :w], (0, W8 - w, 0, H8 - h), mode="replicate")
            ab_in = self._colour_ab(w, h, W8, H8) if self._colour is not None else None
            with torch.inference_mode():
                check_stop(should_stop)
                return work, engine.runner.forward(L, ab_in, None, sample=sample)

        (work, out), messages = engine.run_with_fallback(compute, side)
        check_stop(should_stop)
        h, w = work.size
        ab = out[0, :, :h, :w].permute(1, 2, 0).numpy().astype(np.float32, copy=True)
        info = self.info(work, messages)
        info["hints_used"] = 0
        if sample:
            info["sample"] = sample
        return Chroma(ab=ab, lightness=work.lightness.copy(), info=info)


def _siggraph17_class():
    from ._siggraph17 import Siggraph17Engine

    class UserSiggraph17Engine(Siggraph17Engine):
        """A fine-tuned siggraph17: the published engine with the user's weights."""

        def load(self) -> None:
            if self.runner is not None:
                return
            self._use_network(_load_user_network(self, _registered(self.name)))

    return UserSiggraph17Engine


def engine_class(name: str) -> type:
    """The engine class of user model ``name`` (made once per model file)."""
    from ..models import ModelError
    from ..models.user import get_user_model
    try:
        model = get_user_model(name)
    except ModelError as exc:
        raise EngineError(str(exc)) from None
    key = (name, model.sha256)
    cls = _classes.get(key)
    if cls is None:
        base = _siggraph17_class() if model.network == "siggraph17" else UserNetEngine
        cls = type(f"Trained_{len(_classes)}", (base,), {
            "name": name, "label": f"{name} (trained {model.architecture})",
            "description": f"your {model.manifest.get('label', model.architecture)}",
            "uses_hints": "hints" in model.modes})
        _classes[key] = cls
    return cls


def __getattr__(attr: str):
    if attr.startswith(PREFIX):
        return engine_class(attr[len(PREFIX):])
    raise AttributeError(attr)
