"""Fine-tuning the SIGGRAPH 2017 user-guided network (Zhang, Zhu et al.) on the user's photos
with simulated user points (training.hints), from its published weights (--from siggraph17)
or from random weights; Huber loss on ab as in the paper's regression branch."""
from ...core.spec import Mode
from . import Architecture

ARCH = Architecture(
    name="siggraph17", label="SIGGRAPH 2017 user-guided network, fine-tuned", modes=(Mode.HINTS, Mode.AUTO),
    network="siggraph17", trainer="colorstudio.training._trainers:Siggraph17Trainer",
    description="the user-guided network learns your collection: hints mode and automatic",
    needs=("hints",), options={}, learning_rate=1e-5,
    reference="Zhang, Zhu, Isola, Geng, Lin, Yu, Efros. Real-Time User-Guided Image Colorization with "
              "Learned Deep Priors. SIGGRAPH 2017")
