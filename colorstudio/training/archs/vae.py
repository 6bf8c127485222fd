"""VAE for diverse colorizations (after Deshpande et al., CVPR 2017): an encoder of ab to a
latent code, a decoder conditioned on L; several samples give several colourings."""
from ...core.spec import Mode
from . import Architecture

ARCH = Architecture(
    name="vae", label="VAE (several colourings)", modes=(Mode.AUTO,), network="vae",
    trainer="colorstudio.training._trainers:VaeTrainer",
    description="learns a code for the colour choices; each sample number gives another plausible colouring",
    options={"width": 32, "depth": 5, "latent": 8, "beta": 0.001},
    reference="Deshpande, Lu, Chong, Jain, Forsyth. Learning Diverse Image Colorization. CVPR 2017")
