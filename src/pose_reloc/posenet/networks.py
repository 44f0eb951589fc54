"""PoseNet networks (Kendall et al., ICCV 2015): an image in, the camera position (metres, map frame)
and orientation (unit quaternion x, y, z, w of R_map_cam) out.

- `lite` (default, for Jetson/CPU): a MobileNetV3-small trunk, 1024-d FC, MC dropout, 3+4 outputs.
Given `sample_slots` (N, 1), one image's trunk runs once and the head N times with N dropout
masks: N MC samples for the price of one image (exported as the model's second input).

- `googlenet`: Inception v1 as in the paper, with its two auxiliary regressors during training
  (loss weights 0.3, 0.3, 1.0), a 2048-d FC before the outputs, 224x224 input.
"""

from __future__ import annotations

import torch
from torch import nn

from pose_reloc.train.layers import ConvBNAct, Inception, MCDropout, mobilenet_v3_small_features

ARCHITECTURES = ("lite", "googlenet")
AUX_LOSS_WEIGHTS = (
    0.3,
    0.3,
    1.0,
)  # GoogLeNet PoseNet: aux at inception 4a, 4d, then the final head


class PoseHead(nn.Module):
    """FC -> MC dropout -> position (de-normalized to metres) and unit quaternion."""

    def __init__(
        self,
        features: int,
        hidden: int,
        dropout: float,
        position_mean: torch.Tensor,
        position_scale: torch.Tensor,
    ):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(features, hidden), nn.ReLU())
        self.dropout = MCDropout(dropout)
        self.position = nn.Linear(hidden, 3)
        self.orientation = nn.Linear(hidden, 4)
        self.register_buffer("position_mean", position_mean.clone().float())
        self.register_buffer("position_scale", position_scale.clone().float())

    def forward(
        self, x: torch.Tensor, sample_slots: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(x)
        if (
            sample_slots is not None
        ):  # one image's features -> N rows, each with its own dropout mask
            h = h + torch.zeros_like(sample_slots)
        h = self.dropout(h)
        position = self.position(h) * self.position_scale + self.position_mean
        q = self.orientation(h)
        return position, q / q.norm(dim=1, keepdim=True).clamp_min(1e-8)


class PoseNetLite(nn.Module):
    arch = "lite"

    def __init__(
        self, position_mean: torch.Tensor, position_scale: torch.Tensor, dropout: float = 0.2
    ):
        super().__init__()
        self.features, channels = mobilenet_v3_small_features()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = PoseHead(channels, 1024, dropout, position_mean, position_scale)

    def forward(
        self, image: torch.Tensor, sample_slots: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.pool(self.features(image)), sample_slots)

    def heads(self, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every regressor's output (one here), for the training loss."""
        return [self(image)]


class AuxRegressor(nn.Module):
    def __init__(self, cin: int, position_mean: torch.Tensor, position_scale: torch.Tensor):
        super().__init__()
        self.reduce = nn.Sequential(nn.AdaptiveAvgPool2d(4), ConvBNAct(cin, 128, 1))
        self.head = PoseHead(128 * 16, 1024, 0.7, position_mean, position_scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.reduce(x))


class PoseNetGoogLeNet(nn.Module):
    arch = "googlenet"

    def __init__(
        self, position_mean: torch.Tensor, position_scale: torch.Tensor, dropout: float = 0.4
    ):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNAct(3, 64, 7, 2),
            nn.MaxPool2d(3, 2, 1),
            ConvBNAct(64, 64, 1),
            ConvBNAct(64, 192, 3),
            nn.MaxPool2d(3, 2, 1),
        )
        self.stage3 = nn.Sequential(
            Inception(192, 64, 96, 128, 16, 32, 32),
            Inception(256, 128, 128, 192, 32, 96, 64),
            nn.MaxPool2d(3, 2, 1),
        )
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.stage4bcd = nn.Sequential(
            Inception(512, 160, 112, 224, 24, 64, 64),
            Inception(512, 128, 128, 256, 24, 64, 64),
            Inception(512, 112, 144, 288, 32, 64, 64),
        )
        self.stage4e5 = nn.Sequential(
            Inception(528, 256, 160, 320, 32, 128, 128),
            nn.MaxPool2d(3, 2, 1),
            Inception(832, 256, 160, 320, 32, 128, 128),
            Inception(832, 384, 192, 384, 48, 128, 128),
            nn.AdaptiveAvgPool2d(1),
        )
        self.aux1 = AuxRegressor(512, position_mean, position_scale)
        self.aux2 = AuxRegressor(528, position_mean, position_scale)
        self.head = PoseHead(1024, 2048, dropout, position_mean, position_scale)

    def heads(self, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        a = self.inception4a(self.stage3(self.stem(image)))
        d = self.stage4bcd(a)
        return [self.aux1(a), self.aux2(d), self.head(self.stage4e5(d))]

    def forward(
        self, image: torch.Tensor, sample_slots: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.stage4bcd(self.inception4a(self.stage3(self.stem(image))))
        return self.head(self.stage4e5(d), sample_slots)


def build_posenet(
    arch: str,
    position_mean: torch.Tensor,
    position_scale: torch.Tensor,
    dropout: float | None = None,
) -> nn.Module:
    if arch == "lite":
        return PoseNetLite(position_mean, position_scale, 0.2 if dropout is None else dropout)
    if arch == "googlenet":
        return PoseNetGoogLeNet(position_mean, position_scale, 0.4 if dropout is None else dropout)
    raise ValueError(f"architecture {arch!r} is not one of {ARCHITECTURES}")
