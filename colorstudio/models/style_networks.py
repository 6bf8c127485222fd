"""The two published style-transfer networks, written for Colorstudio.

Both reproduce the parameter layout of their release files exactly (every state_dict key and
tensor shape), so the published weights load with ``strict=True`` and
``torch.load(weights_only=True)``. Facts carried over from the authors' code (not the code):

MicroAST (Wang et al., AAAI 2023; EndyWon/MicroAST, four files):

* Every convolution is "reflection-pad k//2, then Conv2d" in a module whose Conv2d is called
  ``conv_layer``; residual blocks hold ``conv1`` and ``conv2`` with a ReLU between them.
* Encoder (content and style alike): ``enc1`` = conv 9x9 3->16, ReLU, depthwise-grouped
  3x3 stride 2 16->32 (groups 16), ReLU, 1x1 32->32, ReLU, grouped 3x3 stride 2 32->64
  (groups 32), ReLU, 1x1 64->64, ReLU, residual block; ``enc2`` = one residual block. It
  returns both outputs (at a quarter of the input's size).
* Modulator: ``weight1``, ``bias1`` (from the style's ``enc1`` output) and ``weight2``,
  ``bias2`` (from its ``enc2`` output), each a depthwise 3x3 conv followed by a global
  average: per-channel filter weights and biases.
* Decoder: AdaIN of the content's ``enc2`` features to the style's ``enc2`` statistics, the
  residual block ``dec1`` with "filter modulation" (w2, b2), AdaIN to the style's ``enc1``
  statistics, ``dec2`` with (w1, b1), then ``dec3`` = bilinear x2, grouped 3x3 64->32
  (groups 32), ReLU, 1x1, ReLU, bilinear x2, grouped 3x3 32->16 (groups 16), ReLU, 1x1,
  ReLU, conv 9x9 16->3. Filter modulation of a residual block: y1 = w*conv1(x) + b*x,
  y2 = ReLU(y1), y3 = w*conv2(y2) + b*y2, out = x + y3.
* AdaIN statistics: per-channel mean and sqrt(unbiased variance + 1e-5).
* Input RGB 0..1 at any size; output RGB (clamped to 0..1 when saved). The output is
  4 * ceil(ceil(n/2)/2) pixels along each side, cropped here to the input's size.

AdaIN (Huang and Belongie, ICCV 2017; naoto0804/pytorch-AdaIN release v0.0.0):

* ``vgg_normalised.pth``: the whole normalised VGG-19 as one nn.Sequential (keys ``0.`` ...
  ``52.``); only its first 31 layers (to relu4_1) are used.
* ``decoder.pth``: nn.Sequential mirroring VGG from relu4_1 with nearest x2 upsampling
  (keys ``1.``, ``5.``, ``8.``, ``11.``, ``14.``, ``18.``, ``21.``, ``25.``, ``28.``).
* Style transfer: f = AdaIN(vgg(content), vgg(style)); f = alpha*f + (1-alpha)*vgg(content);
  interpolation between styles mixes AdaIN(content, style_i) by weights; decode.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5


def mean_std(feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and sqrt(unbiased variance + 1e-5), shaped (n, c, 1, 1)."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    return flat.mean(dim=2).view(n, c, 1, 1), (flat.var(dim=2) + EPS).sqrt().view(n, c, 1, 1)


def adain_with(feat: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
               stats: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> torch.Tensor:
    """``feat`` normalised by its own statistics (or ``stats``, when given: a whole image's,
    for a tile of it) and given ``mean`` and ``std``."""
    m, s = stats if stats is not None else mean_std(feat)
    return (feat - m) / s * std + mean


# -- MicroAST --------------------------------------------------------------------------------

class PadConv(nn.Module):
    """Reflection padding of k//2, then a convolution (the published ``conv_layer``)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.pad = k // 2
        self.conv_layer = nn.Conv2d(cin, cout, k, stride, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        return self.conv_layer(x)


class Residual(nn.Module):
    """x + conv2(ReLU(conv1(x))), or its filter-modulated form (see the module docstring)."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.conv1 = PadConv(channels, channels, 3)
        self.conv2 = PadConv(channels, channels, 3)

    def forward(self, x: torch.Tensor, weight: Optional[torch.Tensor] = None,
                bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        if weight is None:
            return x + self.conv2(F.relu(self.conv1(x)))
        y = F.relu(weight * self.conv1(x) + bias * x)
        return x + weight * self.conv2(y) + bias * y


class Bilinear2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class MicroEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(
            PadConv(3, 16, 9), nn.ReLU(),
            PadConv(16, 32, 3, 2, groups=16), nn.ReLU(),
            PadConv(32, 32, 1), nn.ReLU(),
            PadConv(32, 64, 3, 2, groups=32), nn.ReLU(),
            PadConv(64, 64, 1), nn.ReLU(),
            Residual(64))
        self.enc2 = nn.Sequential(Residual(64))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1 = self.enc1(x)
        return f1, self.enc2(f1)


def _dw_pool(channels: int = 64) -> nn.Sequential:
    # index 0 holds the weights; the global average is applied in Modulator.forward.
    return nn.Sequential(PadConv(channels, channels, 3, groups=channels))


class MicroModulator(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight1 = _dw_pool()
        self.bias1 = _dw_pool()
        self.weight2 = _dw_pool()
        self.bias2 = _dw_pool()

    def forward(self, feats):
        f1, f2 = feats
        pool = lambda seq, f: seq(f).mean(dim=(2, 3), keepdim=True)  # noqa: E731
        return ((pool(self.weight1, f1), pool(self.weight2, f2)),
                (pool(self.bias1, f1), pool(self.bias2, f2)))


class MicroDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.dec1 = Residual(64)
        self.dec2 = Residual(64)
        self.dec3 = nn.Sequential(
            Bilinear2x(), PadConv(64, 32, 3, groups=32), nn.ReLU(),
            PadConv(32, 32, 1), nn.ReLU(),
            Bilinear2x(), PadConv(32, 16, 3, groups=16), nn.ReLU(),
            PadConv(16, 16, 1), nn.ReLU(),
            PadConv(16, 3, 9))


class StyleSignal:
    """What the style branch gives the decoder: statistics and filter modulation (tiny)."""

    def __init__(self, mean1, std1, mean2, std2, w1, w2, b1, b2):
        self.mean1, self.std1, self.mean2, self.std2 = mean1, std1, mean2, std2
        self.w1, self.w2, self.b1, self.b2 = w1, w2, b1, b2

    def to(self, device, dtype=torch.float32) -> "StyleSignal":
        return StyleSignal(*(t.to(device, dtype) for t in self.tensors()))

    def tensors(self) -> tuple:
        return (self.mean1, self.std1, self.mean2, self.std2, self.w1, self.w2, self.b1, self.b2)

    @staticmethod
    def mix(signals, weights) -> "StyleSignal":
        """A weighted mean of several styles' signals (interpolation between styles)."""
        parts = [sum(w * s.tensors()[i] for s, w in zip(signals, weights)) for i in range(8)]
        return StyleSignal(*parts)


class MicroASTNet(nn.Module):
    """The four published parts of MicroAST in one module (one file per part)."""

    PARTS = ("content_encoder", "style_encoder", "modulator", "decoder")

    def __init__(self):
        super().__init__()
        self.content_encoder = MicroEncoder()
        self.style_encoder = MicroEncoder()
        self.modulator = MicroModulator()
        self.decoder = MicroDecoder()

    # The three stages, so that each can be cached or tiled on its own.
    def style_signal(self, style: torch.Tensor) -> StyleSignal:
        """The style branch: style encoder + modulator, once per style picture."""
        f1, f2 = self.style_encoder(style)
        (w1, w2), (b1, b2) = self.modulator((f1, f2))
        m1, s1 = mean_std(f1)
        m2, s2 = mean_std(f2)
        return StyleSignal(m1, s1, m2, s2, w1, w2, b1, b2)

    def content_features(self, content: torch.Tensor) -> torch.Tensor:
        """The content encoder's second output (the only one the decoder reads)."""
        return self.content_encoder(content)[1]

    def modulate(self, feat: torch.Tensor, sig: StyleSignal, alpha: float = 1.0,
                 stats: Optional[tuple] = None) -> torch.Tensor:
        """The decoder at a quarter of the size: AdaIN, dec1, AdaIN, dec2. Global statistics
        (whole-image AdaIN), so it runs on the whole quarter-size map, never in tiles."""
        d = self.decoder
        x = adain_with(feat, sig.mean2, sig.std2, stats)
        if alpha != 1.0:
            x = alpha * x + (1 - alpha) * feat
        x2 = d.dec1(x, sig.w2, sig.b2)
        x3 = adain_with(x2, sig.mean1, sig.std1)
        if alpha != 1.0:
            x3 = alpha * x3 + (1 - alpha) * x2
        return d.dec2(x3, sig.w1, sig.b1)

    def upsample(self, x4: torch.Tensor) -> torch.Tensor:
        """``dec3``: from the quarter-size modulated features to RGB at four times the size
        (local: can run in tiles with a margin)."""
        return self.decoder.dec3(x4)

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        h, w = content.shape[-2:]
        out = self.upsample(self.modulate(self.content_features(content), self.style_signal(style), alpha))
        return out[..., :h, :w]


# -- MicroAST for inference: the same arithmetic, laid out for the CPU -----------------------

class PairSumConv(nn.Module):
    """A grouped convolution with two input channels and one output per group, computed as a
    depthwise convolution of every input channel and the sum of each pair. oneDNN runs a
    depthwise convolution about twice as fast as a 2-in/1-out grouped one."""

    def __init__(self, layer: PadConv):
        super().__init__()
        conv = layer.conv_layer
        groups, cin = conv.groups, conv.in_channels
        if conv.out_channels != groups or cin != 2 * groups:
            raise ValueError("PairSumConv needs two input channels and one output per group")
        self.pad, self.stride = layer.pad, conv.stride
        self.register_buffer("weight", conv.weight.detach().reshape(cin, 1, *conv.kernel_size).clone())
        bias = torch.zeros(cin, dtype=conv.weight.dtype)
        if conv.bias is not None:
            bias[0::2] = conv.bias.detach()
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        y = F.conv2d(x, self.weight, self.bias, self.stride, groups=self.weight.shape[0])
        return y[:, 0::2] + y[:, 1::2]


class SplitConv(nn.Module):
    """A k x k convolution with few outputs (dec3's last, 16 -> 3) as a k x 1 convolution to
    ``out * k`` channels followed by a 1 x k grouped one that sums the k columns: oneDNN is slow
    on a 9 x 9 kernel with 3 outputs, and fast on these two."""

    def __init__(self, layer: PadConv):
        super().__init__()
        conv = layer.conv_layer
        if conv.groups != 1 or conv.stride != (1, 1) or conv.kernel_size[0] != conv.kernel_size[1]:
            raise ValueError("SplitConv needs a square, ungrouped, stride-1 convolution")
        k, cout, cin = conv.kernel_size[0], conv.out_channels, conv.in_channels
        w = conv.weight.detach()
        self.pad = layer.pad
        # rows[o * k + dx, c, dy, 0] = w[o, c, dy, dx]
        self.register_buffer("rows", w.permute(0, 3, 1, 2).reshape(cout * k, cin, k, 1).clone())
        cols = torch.zeros(cout, k, 1, k, dtype=w.dtype)
        for dx in range(k):
            cols[:, dx, 0, dx] = 1.0
        self.register_buffer("cols", cols)
        self.register_buffer("bias", conv.bias.detach().clone() if conv.bias is not None else torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        z = F.conv2d(x, self.rows)
        return F.conv2d(z, self.cols, self.bias, groups=self.cols.shape[0])


class GreyConv(nn.Module):
    """The content encoder's first convolution for a grey picture given as ONE channel: the
    network sees the grey photo as three equal channels, and a convolution of three equal
    channels is one convolution with the three kernels summed (a third of the work)."""

    def __init__(self, layer: PadConv):
        super().__init__()
        conv = layer.conv_layer
        self.pad, self.stride = layer.pad, conv.stride
        self.register_buffer("weight", conv.weight.detach().sum(dim=1, keepdim=True).clone())
        self.register_buffer("bias", conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            raise ValueError("GreyConv takes the grey picture as one channel")
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        return F.conv2d(x, self.weight, self.bias, self.stride)


def inference_copy(net: MicroASTNet, dtype: torch.dtype = torch.float32) -> MicroASTNet:
    """A copy of ``net`` for fast inference on the CPU: the same function (to float rounding),
    dec3's grouped and 9 x 9 convolutions rewritten (:class:`PairSumConv`, :class:`SplitConv`),
    the content encoder taking the grey photo as one channel (:class:`GreyConv`), ReLUs in
    place, parameters channels-last in ``dtype``. ``net`` itself (the published layout,
    loaded strictly) is left untouched. Feed it channels-last tensors; its
    ``content_features`` takes (1, 1, h, w) grey pictures."""
    import copy
    fast = copy.deepcopy(net).eval()
    fast.content_encoder.enc1[0] = GreyConv(fast.content_encoder.enc1[0])
    dec3 = fast.decoder.dec3
    for i, layer in enumerate(dec3):
        if isinstance(layer, PadConv):
            conv = layer.conv_layer
            if conv.groups > 1 and conv.in_channels == 2 * conv.groups and conv.out_channels == conv.groups:
                dec3[i] = PairSumConv(layer)
            elif conv.groups == 1 and conv.kernel_size[0] > 3 and conv.out_channels < 8:
                dec3[i] = SplitConv(layer)
    for module in fast.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = True
    return fast.to(dtype=dtype, memory_format=torch.channels_last)


# -- AdaIN -----------------------------------------------------------------------------------

def _vgg_layers() -> list:
    cfg = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256), (256, 256),
           "M", (256, 512), (512, 512), (512, 512), (512, 512), "M", (512, 512), (512, 512), (512, 512), (512, 512)]
    layers: list = [nn.Conv2d(3, 3, 1)]
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(item[0], item[1], 3), nn.ReLU()]
    return layers


def _decoder_layers() -> list:
    cfg = [(512, 256), "U", (256, 256), (256, 256), (256, 256), (256, 128), "U", (128, 128), (128, 64), "U",
           (64, 64), (64, 3)]
    layers: list = []
    for item in cfg:
        if item == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(item[0], item[1], 3), nn.ReLU()]
    return layers[:-1]  # no ReLU after the last convolution


#: VGG layers up to relu4_1 (the ones AdaIN uses).
VGG_USED = 31


class AdaINNet(nn.Module):
    """The published normalised VGG (all of it, so its file loads strictly) and decoder."""

    PARTS = ("vgg", "decoder")

    def __init__(self):
        super().__init__()
        self.vgg = nn.Sequential(*_vgg_layers())
        self.decoder = nn.Sequential(*_decoder_layers())

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """relu4_1 features of an RGB 0..1 picture."""
        x = image
        for layer in list(self.vgg)[:VGG_USED]:
            x = layer(x)
        return x

    def transfer(self, content_feat: torch.Tensor, style_feats, weights=(1.0,), alpha: float = 1.0) -> torch.Tensor:
        """Decoded RGB for content features, one or more styles' relu4_1 features mixed by
        ``weights`` (interpolation between styles), and the feature-space ``alpha``."""
        total = float(sum(weights))
        feat = None
        for sf, w in zip(style_feats, weights):
            m, s = mean_std(sf)
            t = adain_with(content_feat, m, s) * (float(w) / total)
            feat = t if feat is None else feat + t
        feat = alpha * feat + (1 - alpha) * content_feat
        return self.decoder(feat)

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return self.transfer(self.encode(content), [self.encode(style)], (1.0,), alpha)
