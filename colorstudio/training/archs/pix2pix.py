"""Conditional GAN (pix2pix, Isola et al. 2017): the U-Net generator and a PatchGAN
discriminator on (L, ab); loss = adversarial + lambda * L1. The discriminator is used while
training only and is not saved in the model file."""
from ...core.spec import Mode
from . import Architecture

ARCH = Architecture(
    name="pix2pix", label="pix2pix conditional GAN", modes=(Mode.AUTO,), network="unet",
    trainer="colorstudio.training._trainers:Pix2PixTrainer",
    description="U-Net generator trained against a PatchGAN discriminator; livelier colours than plain L1",
    options={"in_channels": 1, "width": 32, "depth": 5, "lambda_l1": 100.0, "disc_width": 32},
    reference="Isola, Zhu, Zhou, Efros. Image-to-Image Translation with Conditional Adversarial Networks. CVPR 2017")
