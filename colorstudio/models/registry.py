"""The models Colorstudio knows: where each comes from, how to check it, whose work it is.

Adding a model is one entry here (plus its architecture in ``networks.ARCHITECTURES``).
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ModelError

_RELEASE = "https://colorizers.s3.us-east-2.amazonaws.com/"
_SOURCE = "https://github.com/richzhang/colorization"


@dataclass(frozen=True)
class ModelInfo:
    """One downloadable set of weights."""

    name: str              # what the user types: `colorstudio models install NAME`
    label: str             # a short human title
    purpose: str           # what it is for, in the user's words
    filename: str          # the published file name (carries the hash prefix)
    url: str
    sha256_prefix: str     # the published leading hex digits of the file's SHA-256
    approx_bytes: int      # about how big the file is (for messages; not checked)
    licence: str
    source: str
    citation: str
    architecture: str      # key of colorstudio.models.networks.ARCHITECTURES

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url


MODELS: dict[str, ModelInfo] = {
    "siggraph17": ModelInfo(
        name="siggraph17",
        label="SIGGRAPH 2017 user-guided colorization network",
        purpose="colour hints (user-guided) and automatic colorization; suggested colours",
        filename="siggraph17-df00044c.pth",
        url=_RELEASE + "siggraph17-df00044c.pth",
        sha256_prefix="df00044c",
        approx_bytes=136_800_000,
        licence="BSD-2-Clause",
        source=_SOURCE,
        citation=("Richard Zhang, Jun-Yan Zhu, Phillip Isola, Xinyang Geng, Angela S. Lin, "
                  "Tianhe Yu, Alexei A. Efros. Real-Time User-Guided Image Colorization with "
                  "Learned Deep Priors. ACM Transactions on Graphics (SIGGRAPH), 2017."),
        architecture="siggraph17",
    ),
    "eccv16": ModelInfo(
        name="eccv16",
        label="ECCV 2016 automatic colorization network",
        purpose="automatic colorization (no hints)",
        filename="colorization_release_v2-9b330a0b.pth",
        url=_RELEASE + "colorization_release_v2-9b330a0b.pth",
        sha256_prefix="9b330a0b",
        approx_bytes=129_000_000,
        licence="BSD-2-Clause",
        source=_SOURCE,
        citation=("Richard Zhang, Phillip Isola, Alexei A. Efros. Colorful Image Colorization. "
                  "European Conference on Computer Vision (ECCV), 2016."),
        architecture="eccv16",
    ),
}


def model_names() -> list[str]:
    return list(MODELS)


def get_model(name: str) -> ModelInfo:
    """The registry entry ``name``, or a ModelError that lists the known names."""
    info = MODELS.get(name)
    if info is None:
        raise ModelError(f"there is no model called {name!r}; the known models are: {', '.join(MODELS)}")
    return info
