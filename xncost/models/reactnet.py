"""ReActNet-A (Liu et al., "ReActNet", ECCV 2020, Section 3.1 and Fig. 2), as the authors'
code builds it (liuzechun/ReActNet, mobilenet/2_step2/reactnet.py).

A MobileNetV1 layout whose depth-wise/point-wise pairs become full binary convolutions,
input 3x224x224:

    conv 3x3/2 3->32 (real-valued, no bias), BN
    13 blocks, widths 64, 128, 128, 256, 256, 512 x 6, 1024 x 2 (stride 2 where the width
    doubles, except 32 -> 64):
        y1 = RPReLU(BN(SignConv2d 3x3 c->c, stride)(RSign(x)) + avgpool2x2(x))
        y2 = RPReLU(BN(SignConv2d 1x1 c->c')(RSign(y1)) + y1)            if c' == c
             RPReLU(cat(BN(SignConv2d 1x1 c->c)(RSign(y1)) + y1) x 2)    if c' == 2c
    global average pool, real-valued FC 1024 -> 1000 (with bias)

RSign = shift then sign (the sign runs inside `SignConv2d`); RPReLU = shift, PReLU, shift.
Real-valued: the first convolution and the FC; every other convolution is binary.
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.models.bireal import IMAGENET_CLASSES
from xncost.models.bnn_layers import LearnableBias, SignConv2d, avg_pool_shortcut, float_conv

REACTNET_A_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)


class RPReLU(nn.Sequential):
    """shift -> PReLU (one slope per channel) -> shift (ReActNet Eq. 4)."""

    def __init__(self, channels: int) -> None:
        super().__init__(LearnableBias(channels), nn.PReLU(channels), LearnableBias(channels))


class ReActBlock(nn.Module):
    """A binary 3x3 and a binary 1x1 convolution, each with a real-valued shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.move1 = LearnableBias(c_in)
        self.conv3x3 = SignConv2d(c_in, c_in, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.pool = avg_pool_shortcut(stride)
        self.act1 = RPReLU(c_in)
        self.move2 = LearnableBias(c_in)
        n = c_out // c_in  # 1, or 2: two 1x1 convolutions c -> c, concatenated
        self.pointwise = nn.ModuleList(SignConv2d(c_in, c_in, 1) for _ in range(n))
        self.bn2 = nn.ModuleList(nn.BatchNorm2d(c_in) for _ in range(n))
        self.act2 = RPReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.act1(self.bn1(self.conv3x3(self.move1(x))) + self.pool(x))
        b = self.move2(y1)
        pairs = zip(self.pointwise, self.bn2, strict=True)
        y2 = torch.cat([bn(conv(b)) + y1 for conv, bn in pairs], dim=1)
        return self.act2(y2)


class ReActNetA(nn.Module):
    """[B, in_channels, H, W] -> [B, num_classes]."""

    def __init__(self, num_classes: int = IMAGENET_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        first = REACTNET_A_WIDTHS[0]
        self.stem = nn.Sequential(float_conv(in_channels, first, 3, 2), nn.BatchNorm2d(first))
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(REACTNET_A_WIDTHS[:-1], REACTNET_A_WIDTHS[1:], strict=True):
            stride = 2 if c_out != c_in and c_out != 64 else 1
            blocks.append(ReActBlock(c_in, c_out, stride))
        self.blocks = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(REACTNET_A_WIDTHS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))
