"""CNN regression: a U-Net from L to ab with an L1 (or Huber) loss on ab."""
from ...core.spec import Mode
from . import Architecture

ARCH = Architecture(
    name="unet", label="U-Net regression (L to ab)", modes=(Mode.AUTO,), network="unet",
    trainer="colorstudio.training._trainers:RegressionTrainer",
    description="predicts the missing colour channels from the lightness; L1 or Huber loss",
    options={"in_channels": 1, "width": 32, "depth": 5, "loss": "l1"},
    reference="the classic colorization CNN (e.g. Iizuka et al. 2016, Zhang et al. 2016 regression baseline)")
