"""Autoencoder for faded colour: restores a faded or colour-cast colour photo. Training pairs
are the user's good photos faded synthetically (fading curves, a yellow or magenta cast,
lowered saturation; see training.hints.fade); the photo's L is kept."""
from ...core.spec import Mode
from . import Architecture

ARCH = Architecture(
    name="restore", label="Faded colour restorer", modes=(Mode.AUTO,), network="unet",
    trainer="colorstudio.training._trainers:RestoreTrainer",
    description="gives a faded or colour-cast colour photo its colours back; the lightness is kept",
    needs=("faded",),
    options={"in_channels": 3, "width": 32, "depth": 5},
    reference="a U-Net autoencoder on synthetic fading pairs")
