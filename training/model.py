"""The spine model: two small 2D U-Nets on sagittal slices (PyTorch, for training and ONNX export only).

Each U-Net level has two 3x3 convolutions with instance normalisation and leaky
ReLU, transposed-convolution upsampling and skip connections (Ronneberger et
al. 2015; the normalisation and activation as nnU-Net's defaults, Isensee et
al. 2021).

- The **level** network: six levels (8 to 96 channels), five poolings, a
  receptive field of about 300 pixels (450 mm at 1.5 mm): from the sacrum to
  the upper lumbar spine, what telling L5 from the others needs. It gives the
  L5 output.
- The **parts** network: three levels (8 to 32 channels), two poolings, a
  receptive field of about 40 pixels (60 mm): a body and its discs, not where
  they lie in the column. It gives the body and disc outputs. A deep network
  learned where bodies occur, and, never shown the (unlabelled) sacrum as a
  body, saw neither S1 nor the L5-S1 disc; a network that can only judge what a
  body looks like finds them.

Input height and width must be multiples of 32.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

CHANNELS = (8, 16, 32, 48, 64, 96)
MULTIPLE = 2 ** (len(CHANNELS) - 1)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.InstanceNorm2d(cout, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.InstanceNorm2d(cout, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
    )


PARTS_CHANNELS = (8, 16, 32)


class UNet(nn.Module):
    def __init__(self, outputs: int, channels=CHANNELS, inputs: int = 1) -> None:
        super().__init__()
        self.encoder = nn.ModuleList()
        previous = inputs
        for width in channels:
            self.encoder.append(_block(previous, width))
            previous = width
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for n in range(len(channels) - 1, 0, -1):
            self.up.append(nn.ConvTranspose2d(channels[n], channels[n - 1], 2, stride=2))
            self.decoder.append(_block(2 * channels[n - 1], channels[n - 1]))
        self.head = nn.Conv2d(channels[0], outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for n, block in enumerate(self.encoder):
            x = block(x)
            if n < len(self.encoder) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up, block in zip(self.up, self.decoder):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


class SpineNet(nn.Module):
    """The model's three outputs (``planner.spine.model.OUTPUTS``): L5 from the level network, body and disc
    from the parts network (logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.level = UNet(1, CHANNELS)
        self.parts = UNet(2, PARTS_CHANNELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.level(x), self.parts(x)], dim=1)
