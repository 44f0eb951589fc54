"""Building blocks shared by the PoseNet and Sun-BCNN networks."""

from __future__ import annotations

import torch
from torch import nn


class MCDropout(nn.Module):
    """Dropout that stays live after export when `always_on`: an explicit random mask
    (`rand_like`, exported as ONNX RandomUniformLike), so N copies of one image in a batch give
    N Monte-Carlo samples in one run."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} must be in [0, 1)")
        self.p = p
        self.always_on = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not (self.training or self.always_on):
            return x
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * keep / (1.0 - self.p)


def set_mc_dropout(model: nn.Module, on: bool) -> None:
    for module in model.modules():
        if isinstance(module, MCDropout):
            module.always_on = on


class ConvBNAct(nn.Sequential):
    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        stride: int = 1,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
    ):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        hidden = max(8, channels // 4)
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Hardsigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


class InvertedResidual(nn.Module):
    def __init__(
        self, cin: int, expand: int, cout: int, k: int, stride: int, se: bool, act: type[nn.Module]
    ):
        super().__init__()
        layers: list[nn.Module] = []
        if expand != cin:
            layers.append(ConvBNAct(cin, expand, 1, act=act))
        layers.append(ConvBNAct(expand, expand, k, stride, groups=expand, act=act))
        if se:
            layers.append(SqueezeExcite(expand))
        layers.append(ConvBNAct(expand, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


# MobileNetV3-small (Howard et al. 2019): kernel, expansion, out channels, SE, activation, stride.
MOBILENET_V3_SMALL = (
    (3, 16, 16, True, nn.ReLU, 2),
    (3, 72, 24, False, nn.ReLU, 2),
    (3, 88, 24, False, nn.ReLU, 1),
    (5, 96, 40, True, nn.Hardswish, 2),
    (5, 240, 40, True, nn.Hardswish, 1),
    (5, 240, 40, True, nn.Hardswish, 1),
    (5, 120, 48, True, nn.Hardswish, 1),
    (5, 144, 48, True, nn.Hardswish, 1),
    (5, 288, 96, True, nn.Hardswish, 2),
    (5, 576, 96, True, nn.Hardswish, 1),
    (5, 576, 96, True, nn.Hardswish, 1),
)


class Inception(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int):
        super().__init__()
        self.b1 = ConvBNAct(cin, c1, 1)
        self.b3 = nn.Sequential(ConvBNAct(cin, c3r, 1), ConvBNAct(c3r, c3, 3))
        self.b5 = nn.Sequential(ConvBNAct(cin, c5r, 1), ConvBNAct(c5r, c5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), ConvBNAct(cin, pool, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


def mobilenet_v3_small_features(width: float = 1.0) -> tuple[nn.Sequential, int]:
    """The convolutional trunk of MobileNetV3-small and its output channel count."""

    def ch(c: int) -> int:
        return max(8, int(c * width + 4) // 8 * 8)

    layers: list[nn.Module] = [ConvBNAct(3, ch(16), 3, 2, act=nn.Hardswish)]
    cin = ch(16)
    for k, exp, cout, se, act, stride in MOBILENET_V3_SMALL:
        layers.append(InvertedResidual(cin, ch(exp), ch(cout), k, stride, se, act))
        cin = ch(cout)
    layers.append(ConvBNAct(cin, ch(576), 1, act=nn.Hardswish))
    return nn.Sequential(*layers), ch(576)
