"""A tiny two-class diffusion setting with an exact noise predictor, shared by the sampler and inpainting tests.

Each class is a constant image (``TARGET``: class -> grey value in [-1, 1]; 2 = the null class, the unconditional
mean), so the optimal epsilon-prediction of a noised sample is known in closed form and a sampler or RePaint must
land on the class's value."""

from __future__ import annotations

import torch
from gen_fixtures import TINY

from radsynth.generators.diffusion.ddpm import DDPMConfig, build_train_scheduler

CFG = DDPMConfig.create(**TINY, classes=("dark", "bright"), num_train_timesteps=100)
TARGET = {0: -0.6, 1: 0.6, 2: 0.0}  # class -> constant image; 2 = null class (unconditional mean)


class Oracle(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.abar = build_train_scheduler(CFG).alphas_cumprod

    def forward(self, x, timesteps, class_labels=None):
        c = torch.tensor([TARGET[int(v)] for v in class_labels], dtype=torch.float32).view(-1, 1, 1, 1)
        a = self.abar[timesteps].view(-1, 1, 1, 1)
        return (x - a.sqrt() * c) / (1 - a).sqrt()
