"""PoseNet losses (Kendall & Cipolla, CVPR 2017):

- `beta`:      |x̂ − x| + β·|q̂ − q|                    (β weighs metres against quaternion units)
- `learned`:   |x̂ − x|·e^{−s_x} + s_x + |q̂ − q|·e^{−s_q} + s_q   (s_x, s_q learned: homoscedastic)
- `reprojection`: mean pixel distance between scene points projected with the predicted and the
  true pose (needs the learned loss to pretrain: from scratch it does not converge)
- `anchors` (the anchor head only, Saha et al., BMVC 2018): cross-entropy of the anchor scores
  against the anchor nearest the truth, plus the learned weighting of the position read from each
  anchor within two spacings of the truth and of the orientation

Quaternion distances are sign-invariant (q and −q are one rotation). Quaternions are x, y, z, w.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the PyTorch convention)

from pose_reloc.posenet.networks import AnchorOutput

LOSSES = ("beta", "learned", "reprojection", "anchors")


def quaternion_distance(q_pred: torch.Tensor, q_true: torch.Tensor) -> torch.Tensor:
    """Per-sample min(|q̂ − q|, |q̂ + q|)."""
    return torch.minimum((q_pred - q_true).norm(dim=1), (q_pred + q_true).norm(dim=1))


def rotation_matrices(q_xyzw: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) rotation matrices of (N, 4) unit quaternions x, y, z, w."""
    x, y, z, w = q_xyzw.unbind(dim=1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - z * w),
            2 * (x * z + y * w),
            2 * (x * y + z * w),
            1 - 2 * (x * x + z * z),
            2 * (y * z - x * w),
            2 * (x * z - y * w),
            2 * (y * z + x * w),
            1 - 2 * (x * x + y * y),
        ],
        dim=1,
    ).reshape(-1, 3, 3)


class BetaLoss(nn.Module):
    def __init__(self, beta: float = 250.0):
        super().__init__()
        self.beta = beta

    def forward(
        self, position: torch.Tensor, q: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return (
            (position - batch["position"]).norm(dim=1)
            + self.beta * quaternion_distance(q, batch["orientation"])
        ).mean()


class LearnedWeightingLoss(nn.Module):
    def __init__(self, s_x: float = 0.0, s_q: float = -3.0):
        super().__init__()
        self.s_x = nn.Parameter(torch.tensor(s_x))
        self.s_q = nn.Parameter(torch.tensor(s_q))

    def forward(
        self, position: torch.Tensor, q: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        l_x = (position - batch["position"]).abs().sum(dim=1).mean()
        l_q = quaternion_distance(q, batch["orientation"]).mean()
        return l_x * torch.exp(-self.s_x) + self.s_x + l_q * torch.exp(-self.s_q) + self.s_q


class ReprojectionLoss(nn.Module):
    """Scene points (world frame, from depth) projected by both poses; distances in pixels, clipped
    so a wild early prediction cannot dominate."""

    def __init__(self, clip_px: float = 100.0):
        super().__init__()
        self.clip_px = clip_px

    def forward(
        self, position: torch.Tensor, q: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        points, valid, K = batch["points"], batch["points_valid"], batch["K"]

        def project(R_wc: torch.Tensor, t_wc: torch.Tensor) -> torch.Tensor:
            cam = torch.einsum("nji,nmj->nmi", R_wc, points - t_wc[:, None, :])  # R_wc^T (p - t)
            z = cam[..., 2:3].clamp_min(0.1)
            uv = cam[..., :2] / z
            return uv * K[:, None, [0, 1], [0, 1]] + K[:, None, [0, 1], [2, 2]]

        predicted = project(rotation_matrices(q), position)
        true = project(rotation_matrices(batch["orientation"]), batch["position"])
        distance = (predicted - true).norm(dim=2).clamp_max(self.clip_px)
        return (distance * valid).sum() / valid.sum().clamp_min(1.0)


class AnchorLoss(LearnedWeightingLoss):
    """Takes the anchor head's AnchorOutput, not (position, q). The offsets are learned from every
    anchor near the truth, not only the nearest: an MC sample that picks a neighbour still lands
    near the true position."""

    def __init__(self, near_spacings: float = 2.0):
        super().__init__()
        self.near_spacings = near_spacings

    def forward(  # type: ignore[override]
        self, out: AnchorOutput, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        truth = batch["position"]
        distance = torch.cdist(truth, out.anchors)  # (N, K)
        classify = F.cross_entropy(out.logits, distance.argmin(dim=1))
        nearest = distance.min(dim=1, keepdim=True).values
        near = (distance <= self.near_spacings * out.spacing_m) | (distance == nearest)
        errors = (out.positions_from_anchors - truth[:, None, :]).abs().sum(dim=2)
        l_x = (errors * near).sum() / near.sum()
        l_q = quaternion_distance(out.q, batch["orientation"]).mean()
        return (
            classify + l_x * torch.exp(-self.s_x) + self.s_x + l_q * torch.exp(-self.s_q) + self.s_q
        )


def build_loss(name: str, beta: float = 250.0) -> nn.Module:
    if name == "beta":
        return BetaLoss(beta)
    if name == "learned":
        return LearnedWeightingLoss()
    if name == "reprojection":
        return ReprojectionLoss()
    if name == "anchors":
        return AnchorLoss()
    raise ValueError(f"loss {name!r} is not one of {LOSSES}")
