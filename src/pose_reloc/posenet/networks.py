"""PoseNet networks (Kendall et al., ICCV 2015): an image in, the camera position (metres, map frame)
and orientation (unit quaternion x, y, z, w of R_map_cam) out.

- `lite` (default, for Jetson/CPU): a MobileNetV3-small trunk, 1024-d FC, MC dropout, 3+4 outputs.
Given `sample_slots` (N, 1), one image's trunk runs once and the head N times with N dropout
masks: N MC samples for the price of one image (exported as the model's second input).

- `googlenet`: Inception v1 as in the paper, with its two auxiliary regressors during training
  (loss weights 0.3, 0.3, 1.0), a 2048-d FC before the outputs, 224x224 input.

Either trunk takes one of two heads: `PoseHead` regresses the position directly; `AnchorPoseHead`
(Saha et al., BMVC 2018) says which anchor — a place on the training drives — the camera is
nearest and its offset from that anchor. Both export the same outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the PyTorch convention)

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

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the training loss takes: (position, q) here; the anchor head gives more."""
        return self(x)


class AnchorOutput(NamedTuple):
    """What the anchor head gives the training loss besides the pose."""

    position: torch.Tensor  # (N, 3) the most likely anchor plus its offset, metres
    q: torch.Tensor  # (N, 4)
    logits: torch.Tensor  # (N, K) which anchor the camera is nearest
    positions_from_anchors: torch.Tensor  # (N, K, 3) each anchor plus its own offset, metres
    anchors: torch.Tensor  # (K, 3)
    spacing_m: torch.Tensor  # the anchors' grid spacing


class AnchorPoseHead(nn.Module):
    """FC -> MC dropout -> scores of K anchors, an offset from each (in anchor spacings) and a unit
    quaternion. The position is the best-scored anchor plus its offset: an image that looks like
    two places gives MC samples at both, so the sample spread grows with the ambiguity."""

    anchors: torch.Tensor  # buffers, (K, 3) and the grid spacing
    spacing_m: torch.Tensor

    def __init__(
        self,
        features: int,
        hidden: int,
        dropout: float,
        anchors: torch.Tensor,
        spacing_m: float,
    ):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(features, hidden), nn.ReLU())
        self.dropout = MCDropout(dropout)
        count = int(anchors.shape[0])
        self.scores = nn.Linear(hidden, count)
        self.offsets = nn.Linear(hidden, 3 * count)
        self.orientation = nn.Linear(hidden, 4)
        self.register_buffer("anchors", anchors.clone().float())
        self.register_buffer("spacing_m", torch.tensor(float(spacing_m)))

    def outputs(self, x: torch.Tensor, sample_slots: torch.Tensor | None = None) -> AnchorOutput:
        h = self.fc(x)
        if sample_slots is not None:
            h = h + torch.zeros_like(sample_slots)
        h = self.dropout(h)
        logits = self.scores(h)
        offsets = self.offsets(h).view(h.shape[0], -1, 3) * self.spacing_m
        candidates = self.anchors.unsqueeze(0) + offsets
        best = logits.argmax(dim=1)
        pick = F.one_hot(best, candidates.shape[1]).to(candidates.dtype)  # keeps (N, 3) in ONNX
        position = (pick.unsqueeze(2) * candidates).sum(dim=1)
        q = self.orientation(h)
        q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-8)
        return AnchorOutput(position, q, logits, candidates, self.anchors, self.spacing_m)

    def forward(
        self, x: torch.Tensor, sample_slots: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.outputs(x, sample_slots)
        return out.position, out.q


def place_anchors(positions: torch.Tensor, spacing_m: float) -> torch.Tensor:
    """One anchor per occupied spacing_m x spacing_m cell of the ground plane: the mean of the
    training positions in it (so every anchor lies on a driven street)."""
    if spacing_m <= 0:
        raise ValueError(f"anchor spacing {spacing_m} m must be positive")
    cells = torch.floor(positions[:, :2] / spacing_m).long()
    _, cell_of = torch.unique(cells, dim=0, return_inverse=True)
    sums = torch.zeros(int(cell_of.max()) + 1, 3).index_add_(0, cell_of, positions.float())
    counts = torch.bincount(cell_of).float().unsqueeze(1)
    return sums / counts


@dataclass(frozen=True)
class HeadSpec:
    """What a pose head needs besides its sizes: the training positions' mean and scale (the
    regression head's output normalization), and the anchors (the anchor head's), if any."""

    position_mean: torch.Tensor
    position_scale: torch.Tensor
    anchors: torch.Tensor | None = None
    anchor_spacing_m: float = 0.0

    def build(self, features: int, hidden: int, dropout: float) -> PoseHead | AnchorPoseHead:
        if self.anchors is None:
            return PoseHead(features, hidden, dropout, self.position_mean, self.position_scale)
        return AnchorPoseHead(features, hidden, dropout, self.anchors, self.anchor_spacing_m)


class PoseNetLite(nn.Module):
    arch = "lite"

    def __init__(self, spec: HeadSpec, dropout: float = 0.2):
        super().__init__()
        self.features, channels = mobilenet_v3_small_features()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head: PoseHead | AnchorPoseHead = spec.build(channels, 1024, dropout)

    def forward(
        self, image: torch.Tensor, sample_slots: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.pool(self.features(image)), sample_slots)

    def heads(self, image: torch.Tensor) -> list[Any]:
        """Every regressor's output (one here), for the training loss."""
        return [self.head.outputs(self.pool(self.features(image)))]


class AuxRegressor(nn.Module):
    def __init__(self, cin: int, spec: HeadSpec):
        super().__init__()
        self.reduce = nn.Sequential(nn.AdaptiveAvgPool2d(4), ConvBNAct(cin, 128, 1))
        self.head: PoseHead | AnchorPoseHead = spec.build(128 * 16, 1024, 0.7)

    def forward(self, x: torch.Tensor) -> Any:
        return self.head.outputs(self.reduce(x))


class PoseNetGoogLeNet(nn.Module):
    arch = "googlenet"

    def __init__(self, spec: HeadSpec, dropout: float = 0.4):
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
        self.aux1 = AuxRegressor(512, spec)
        self.aux2 = AuxRegressor(528, spec)
        self.head: PoseHead | AnchorPoseHead = spec.build(1024, 2048, dropout)

    def heads(self, image: torch.Tensor) -> list[Any]:
        a = self.inception4a(self.stage3(self.stem(image)))
        d = self.stage4bcd(a)
        return [self.aux1(a), self.aux2(d), self.head.outputs(self.stage4e5(d))]

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
    anchors: torch.Tensor | None = None,
    anchor_spacing_m: float = 0.0,
) -> nn.Module:
    """A PoseNet with the regression head, or with the anchor head where `anchors` are given."""
    spec = HeadSpec(position_mean, position_scale, anchors, anchor_spacing_m)
    if arch == "lite":
        return PoseNetLite(spec, 0.2 if dropout is None else dropout)
    if arch == "googlenet":
        return PoseNetGoogLeNet(spec, 0.4 if dropout is None else dropout)
    raise ValueError(f"architecture {arch!r} is not one of {ARCHITECTURES}")
