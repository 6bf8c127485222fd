"""The training step of each architecture (torch). Declarations are in :mod:`.archs`.

A trainer owns the modules, optimizers, schedulers and the mixed-precision scaler of one
run; ``state()``/``load_state()`` are what a checkpoint holds; ``step(batch)`` is one update
and returns its losses as floats ("loss" is the one the progress bar shows; "l1_ab" the mean
absolute ab error in ab units, comparable across architectures).

Mixed precision: float16 autocast with a gradient scaler on CUDA; float32 on the CPU and on
MPS (bfloat16 training on a CPU is not tried: it is not exact enough to resume bit for bit
and not every CPU has it).
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..models.trainable import build
from ..models.unet import AB_NORM

KEYS = ("L", "ab", "hint_ab", "hint_mask", "faded_ab")


class Trainer:
    def __init__(self, arch, options: dict, device: torch.device, learning_rate: float, warmup: int = 0,
                 initial_state: Optional[dict] = None, distributed: bool = False):
        self.arch, self.options, self.device = arch, dict(options), device
        self.amp = device.type == "cuda"
        self.model = build(arch.network, self.options)
        if initial_state is not None:
            self.model.load_state_dict(initial_state, strict=True)
        self.model.to(device)
        self.modules: dict[str, nn.Module] = {"model": self.model}
        self.learning_rate = learning_rate
        self.warmup = max(0, int(warmup))
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict = {}
        self.add_optimizer("model", self.model, betas=(0.9, 0.99))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.distributed = distributed
        self._wrapped = self._ddp(self.model) if distributed else self.model

    def _ddp(self, module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def add_optimizer(self, key: str, module: nn.Module, betas=(0.9, 0.99)) -> None:
        opt = torch.optim.Adam(module.parameters(), lr=self.learning_rate, betas=betas)
        self.optimizers[key] = opt
        # Reads self.warmup at each step: a --minutes run sets it once it knows its pace.
        self.schedulers[key] = torch.optim.lr_scheduler.LambdaLR(opt, self._warm_factor)

    def _warm_factor(self, s: int) -> float:
        return min(1.0, (s + 1) / self.warmup) if self.warmup else 1.0

    # -- checkpoints ----------------------------------------------------------------------
    def state(self) -> dict:
        return {"modules": {k: m.state_dict() for k, m in self.modules.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                "scaler": self.scaler.state_dict()}

    def load_state(self, state: dict) -> None:
        for k, m in self.modules.items():
            m.load_state_dict(state["modules"][k], strict=True)
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    def model_state(self) -> dict:
        """The exported model: a plain state_dict on the CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    # -- steps ----------------------------------------------------------------------------
    def to_device(self, batch: dict) -> dict:
        return {k: (torch.as_tensor(v).to(self.device, non_blocking=True) if k in KEYS else v)
                for k, v in batch.items()}

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def train_mode(self) -> None:
        for m in self.modules.values():
            m.train()

    def predict(self, b: dict, net: Optional[nn.Module] = None) -> torch.Tensor:
        """ab / 110 for a batch (training forward)."""
        net = net or self._wrapped
        return net(self.model.normalise(b["L"]))

    def losses(self, b: dict) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def step(self, batch: dict) -> dict:
        b = self.to_device(batch)
        self.train_mode()
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss, report = self.losses(b)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()
        self.schedulers["model"].step()
        return report

    @torch.no_grad()
    def colorize(self, b: dict, sample: int = 0) -> torch.Tensor:
        """ab in ab units (eval mode), for evaluation."""
        b = self.to_device(b)
        self.model.eval()
        ab_in = b.get("faded_ab") if "faded" in self.arch.needs else b.get("hint_ab")
        return self.model.colorize(b["L"], ab_in, b.get("hint_mask"), sample=sample).float()


def _l1_ab(pred_norm: torch.Tensor, ab: torch.Tensor) -> float:
    return float((pred_norm.detach().float() * AB_NORM - ab).abs().mean())


class RegressionTrainer(Trainer):
    """U-Net L -> ab: L1 (default) or Huber on ab / 110."""

    def losses(self, b):
        pred = self.predict(b)
        target = b["ab"] / AB_NORM
        if self.options.get("loss", "l1") == "huber":
            loss = F.smooth_l1_loss(pred.float(), target, beta=5.0 / AB_NORM)
        else:
            loss = F.l1_loss(pred.float(), target)
        return loss, {"loss": float(loss.detach()), "l1_ab": _l1_ab(pred, b["ab"])}


class RestoreTrainer(RegressionTrainer):
    """The restorer: (L, faded ab) -> the original ab, L1."""

    def predict(self, b, net=None):
        net = net or self._wrapped
        return net(self.model.normalise(b["L"], b["faded_ab"]))


class Pix2PixTrainer(Trainer):
    """pix2pix: generator = the U-Net; discriminator = PatchGAN on (L, ab / 110).

    D: BCE(D(real), 1) + BCE(D(fake), 0), halved; G: BCE(D(fake), 1) + lambda * L1. Adam with
    beta1 = 0.5 for both, as in pix2pix. The reported "loss" is the generator's L1 term (the
    adversarial terms oscillate by design); "adv_g" and "loss_d" are reported beside it.
    """

    def __init__(self, arch, options, device, learning_rate, warmup=0, initial_state=None, distributed=False):
        super().__init__(arch, options, device, learning_rate, warmup, initial_state, distributed)
        from ..models.patchgan import PatchGAN
        self.disc = PatchGAN(int(self.options.get("disc_width", 32))).to(device)
        self.modules["disc"] = self.disc
        self.optimizers.clear()
        self.schedulers.clear()
        self.add_optimizer("model", self.model, betas=(0.5, 0.999))
        self.add_optimizer("disc", self.disc, betas=(0.5, 0.999))
        self._disc = self._ddp(self.disc) if distributed else self.disc

    def step(self, batch):
        b = self.to_device(batch)
        self.train_mode()
        lam = float(self.options.get("lambda_l1", 100.0))
        target = b["ab"] / AB_NORM
        opt_g, opt_d = self.optimizers["model"], self.optimizers["disc"]
        with self.autocast():
            fake = self.predict(b)
        # Discriminator.
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            real_logits = self._disc(b["L"], target)
            fake_logits = self._disc(b["L"], fake.detach())
            loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
                            + F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32)))
        self.scaler.scale(loss_d).backward()
        self.scaler.step(opt_d)
        # Generator.
        opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self._disc(b["L"], fake)
            adv = F.binary_cross_entropy_with_logits(logits.float(), torch.ones_like(logits, dtype=torch.float32))
            l1 = F.l1_loss(fake.float(), target)
            loss_g = adv + lam * l1
        self.scaler.scale(loss_g).backward()
        self.scaler.step(opt_g)
        self.scaler.update()
        for s in self.schedulers.values():
            s.step()
        return {"loss": float(l1.detach()), "adv_g": float(adv.detach()), "loss_d": float(loss_d.detach()), "l1_ab": _l1_ab(fake, b["ab"])}


class VaeTrainer(Trainer):
    """The colour VAE: L1 reconstruction of ab / 110 + beta * KL(code || N(0, I))."""

    def losses(self, b):
        recon, mean, logvar = self._wrapped(b["L"], b["ab"])
        target = b["ab"] / AB_NORM
        rec = F.l1_loss(recon.float(), target)
        kl = (-0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(dim=1)).mean()
        loss = rec + float(self.options.get("beta", 0.001)) * kl
        return loss, {"loss": float(loss.detach()), "kl": float(kl.detach()), "l1_ab": _l1_ab(recon, b["ab"])}


class Siggraph17Trainer(Trainer):
    """siggraph17 with simulated points: Huber (delta 1 ab unit) on the regression output, as
    the paper's regression branch. From the published weights, BatchNorm keeps the published
    statistics (its layers stay in eval mode: a user's small batches would spoil them)."""

    def __init__(self, arch, options, device, learning_rate, warmup=0, initial_state=None, distributed=False):
        super().__init__(arch, options, device, learning_rate, warmup, initial_state, distributed)
        self.frozen_norm = initial_state is not None

    def train_mode(self):
        self.model.train()
        if self.frozen_norm:
            for m in self.model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()

    def predict(self, b, net=None):
        net = net or self._wrapped
        return net(b["L"], b["hint_ab"], b["hint_mask"]) / AB_NORM

    def losses(self, b):
        pred = self.predict(b)
        loss = F.smooth_l1_loss(pred.float() * AB_NORM, b["ab"], beta=1.0)
        return loss, {"loss": float(loss.detach()), "l1_ab": _l1_ab(pred, b["ab"])}

    @torch.no_grad()
    def colorize(self, b, sample=0):
        b = self.to_device(b)
        self.model.eval()
        return self.model(b["L"], b["hint_ab"], b["hint_mask"]).float()
