"""Our networks against straightforward re-implementations of the published `colorizers` code.

``PublishedSiggraph17`` and ``PublishedEccv16`` below follow the layout and forward pass of
richzhang/colorization's colorizers/siggraph17.py and eccv16.py as published (layer lists in
nn.Sequential, the siggraph17 decoder computed twice), independently of our modules. Their
state_dicts define the release files' key format, so checkpoints saved from them are
"published-format" checkpoints.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from colorstudio.models.networks import (AB_BINS, SIGGRAPH17_CLASSES, Eccv16Net, Siggraph17Net,
                                         bin_centres)
from colorstudio.models.testing import randomise_batch_norm


def _conv(cin, cout, dil=1, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=dil, dilation=dil, bias=True)


class PublishedSiggraph17(nn.Module):
    """The published SIGGRAPHGenerator's layout and forward (decoder computed twice)."""

    def __init__(self):
        super().__init__()
        R = lambda: nn.ReLU(True)  # noqa: E731
        self.model1 = nn.Sequential(_conv(4, 64), R(), _conv(64, 64), R(), nn.BatchNorm2d(64))
        self.model2 = nn.Sequential(_conv(64, 128), R(), _conv(128, 128), R(), nn.BatchNorm2d(128))
        self.model3 = nn.Sequential(_conv(128, 256), R(), _conv(256, 256), R(), _conv(256, 256), R(),
                                    nn.BatchNorm2d(256))
        self.model4 = nn.Sequential(_conv(256, 512), R(), _conv(512, 512), R(), _conv(512, 512), R(),
                                    nn.BatchNorm2d(512))
        self.model5 = nn.Sequential(_conv(512, 512, 2), R(), _conv(512, 512, 2), R(), _conv(512, 512, 2), R(),
                                    nn.BatchNorm2d(512))
        self.model6 = nn.Sequential(_conv(512, 512, 2), R(), _conv(512, 512, 2), R(), _conv(512, 512, 2), R(),
                                    nn.BatchNorm2d(512))
        self.model7 = nn.Sequential(_conv(512, 512), R(), _conv(512, 512), R(), _conv(512, 512), R(),
                                    nn.BatchNorm2d(512))
        self.model8up = nn.Sequential(nn.ConvTranspose2d(512, 256, kernel_size=4, stride=2, padding=1, bias=True))
        self.model3short8 = nn.Sequential(_conv(256, 256))
        self.model8 = nn.Sequential(R(), _conv(256, 256), R(), _conv(256, 256), R(), nn.BatchNorm2d(256))
        self.model9up = nn.Sequential(nn.ConvTranspose2d(256, 128, kernel_size=4, stride=2, padding=1, bias=True))
        self.model2short9 = nn.Sequential(_conv(128, 128))
        self.model9 = nn.Sequential(R(), _conv(128, 128), R(), nn.BatchNorm2d(128))
        self.model10up = nn.Sequential(nn.ConvTranspose2d(128, 128, kernel_size=4, stride=2, padding=1, bias=True))
        self.model1short10 = nn.Sequential(_conv(64, 128))
        self.model10 = nn.Sequential(R(), _conv(128, 128), nn.LeakyReLU(negative_slope=.2))
        self.model_class = nn.Sequential(nn.Conv2d(256, 529, kernel_size=1, stride=1, bias=True))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, kernel_size=1, stride=1, bias=True), nn.Tanh())

    def forward(self, input_A, input_B, mask_B):
        conv1_2 = self.model1(torch.cat(((input_A - 50.) / 100., input_B / 110., mask_B), dim=1))
        conv2_2 = self.model2(conv1_2[:, :, ::2, ::2])
        conv3_3 = self.model3(conv2_2[:, :, ::2, ::2])
        conv4_3 = self.model4(conv3_3[:, :, ::2, ::2])
        conv5_3 = self.model5(conv4_3)
        conv6_3 = self.model6(conv5_3)
        conv7_3 = self.model7(conv6_3)
        conv8_up = self.model8up(conv7_3) + self.model3short8(conv3_3)
        conv8_3 = self.model8(conv8_up)
        conv9_up = self.model9up(conv8_3) + self.model2short9(conv2_2)
        conv9_3 = self.model9(conv9_up)
        conv10_up = self.model10up(conv9_3) + self.model1short10(conv1_2)
        conv10_2 = self.model10(conv10_up)
        out_reg = self.model_out(conv10_2)
        # As published: the decoder tail again, and this second result is returned.
        conv9_up = self.model9up(conv8_3) + self.model2short9(conv2_2)
        conv9_3 = self.model9(conv9_up)
        conv10_up = self.model10up(conv9_3) + self.model1short10(conv1_2)
        conv10_2 = self.model10(conv10_up)
        out_reg = self.model_out(conv10_2)
        return out_reg * 110.


class PublishedEccv16(nn.Module):
    """The published ECCVGenerator's layout and forward."""

    def __init__(self):
        super().__init__()
        R = lambda: nn.ReLU(True)  # noqa: E731
        self.model1 = nn.Sequential(_conv(1, 64), R(), _conv(64, 64, stride=2), R(), nn.BatchNorm2d(64))
        self.model2 = nn.Sequential(_conv(64, 128), R(), _conv(128, 128, stride=2), R(), nn.BatchNorm2d(128))
        self.model3 = nn.Sequential(_conv(128, 256), R(), _conv(256, 256), R(), _conv(256, 256, stride=2), R(),
                                    nn.BatchNorm2d(256))
        self.model4 = nn.Sequential(_conv(256, 512), R(), _conv(512, 512), R(), _conv(512, 512), R(),
                                    nn.BatchNorm2d(512))
        self.model5 = nn.Sequential(_conv(512, 512, 2), R(), _conv(512, 512, 2), R(), _conv(512, 512, 2), R(),
                                    nn.BatchNorm2d(512))
        self.model6 = nn.Sequential(_conv(512, 512, 2), R(), _conv(512, 512, 2), R(), _conv(512, 512, 2), R(),
                                    nn.BatchNorm2d(512))
        self.model7 = nn.Sequential(_conv(512, 512), R(), _conv(512, 512), R(), _conv(512, 512), R(),
                                    nn.BatchNorm2d(512))
        self.model8 = nn.Sequential(nn.ConvTranspose2d(512, 256, kernel_size=4, stride=2, padding=1, bias=True), R(),
                                    _conv(256, 256), R(), _conv(256, 256), R(),
                                    nn.Conv2d(256, 313, kernel_size=1, stride=1, padding=0, bias=True))
        self.softmax = nn.Softmax(dim=1)
        self.model_out = nn.Conv2d(313, 2, kernel_size=1, padding=0, dilation=1, stride=1, bias=False)
        self.upsample4 = nn.Upsample(scale_factor=4, mode='bilinear')

    def forward(self, input_l):
        x = self.model1((input_l - 50.) / 100.)
        for m in (self.model2, self.model3, self.model4, self.model5, self.model6, self.model7, self.model8):
            x = m(x)
        return self.upsample4(self.model_out(self.softmax(x))) * 110.


@pytest.fixture(scope="module")
def published_siggraph17():
    torch.manual_seed(1)
    return randomise_batch_norm(PublishedSiggraph17(), 1)


@pytest.fixture(scope="module")
def published_eccv16():
    torch.manual_seed(2)
    return randomise_batch_norm(PublishedEccv16(), 2)


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_siggraph17_keys_and_shapes_are_the_published_ones(published_siggraph17):
    ours = _shapes(Siggraph17Net())
    assert ours == _shapes(published_siggraph17)
    assert ours["model_class.0.weight"] == (SIGGRAPH17_CLASSES, 256, 1, 1)
    assert ours["model8.1.weight"] == (256, 256, 3, 3) and ours["model10.1.weight"] == (128, 128, 3, 3)


def test_eccv16_keys_and_shapes_are_the_published_ones(published_eccv16):
    ours = _shapes(Eccv16Net())
    assert ours == _shapes(published_eccv16)
    assert ours["model8.6.weight"] == (313, 256, 1, 1) and ours["model_out.weight"] == (2, 313, 1, 1)


def test_siggraph17_single_decoder_equals_the_published_double_decoder(published_siggraph17):
    net = Siggraph17Net()
    net.load_state_dict(published_siggraph17.state_dict(), strict=True)
    net.eval()
    g = torch.Generator().manual_seed(3)
    L = torch.rand(1, 1, 40, 56, generator=g) * 100
    ab = torch.zeros(1, 2, 40, 56)
    mask = torch.zeros(1, 1, 40, 56)
    ab[:, 0, 10:14, 20:24], ab[:, 1, 10:14, 20:24], mask[:, :, 10:14, 20:24] = 60.0, -30.0, 1.0
    with torch.no_grad():
        expected = published_siggraph17(L, ab, mask)
        got = net(L, ab, mask)
    assert got.shape == expected.shape == (1, 2, 40, 56)
    assert expected.abs().max() > 1.0  # a meaningful comparison, not two near-zero maps
    assert (got - expected).abs().max().item() < 1e-4


def test_eccv16_forward_equals_the_published_one(published_eccv16):
    net = Eccv16Net()
    net.load_state_dict(published_eccv16.state_dict(), strict=True)
    net.eval()
    L = torch.rand(1, 1, 48, 32, generator=torch.Generator().manual_seed(4)) * 100
    with torch.no_grad():
        expected = published_eccv16(L)
        got = net(L)
    assert got.shape == expected.shape == (1, 2, 48, 32)
    assert (got - expected).abs().max().item() < 1e-4


def _encode_ab_index(a: float, b: float) -> int:
    """The published training code's bin index (colorization-pytorch util.encode_ab_ind):
    q = round((a + 110) / 10) * 23 + round((b + 110) / 10)."""
    return int(round((a + 110) / 10)) * AB_BINS + int(round((b + 110) / 10))


def test_bin_centres_follow_the_published_a_major_order():
    centres = bin_centres()
    assert centres.shape == (529, 2)
    for a, b in ((-110, -110), (60, -30), (-30, 60), (0, 0), (110, -110), (-110, 110), (10, 20)):
        q = _encode_ab_index(a, b)
        assert tuple(centres[q].tolist()) == (a, b)
    # A transposed table would swap these two: a = 60, b = -30 is not a = -30, b = 60.
    assert _encode_ab_index(60, -30) != _encode_ab_index(-30, 60)
