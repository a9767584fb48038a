"""Classifier heads: CvT's class token, CMT's conv-and-pool, and a plain pooled head."""

from __future__ import annotations

from torch import Tensor, nn

from scalesearch.arch.blocks import to_nchw


class ClassTokenHead(nn.Module):
    """CvT: LayerNorm on the final class token, then Linear."""

    def __init__(self, dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor, cls: Tensor | None) -> Tensor:
        return self.fc(self.drop(self.norm(cls[:, 0])))


class ConvPoolHead(nn.Module):
    """CMT: 1×1 conv to a wide feature → BN → Swish at the final grid, pool, dropout, Linear."""

    def __init__(self, dim: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, hidden, 1)
        self.norm = nn.BatchNorm2d(hidden)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor, cls: Tensor | None) -> Tensor:
        h = self.act(self.norm(self.conv(to_nchw(x))))
        return self.fc(self.drop(h.mean(dim=(2, 3))))


class PoolHead(nn.Module):
    """LayerNorm, global average pool over the grid, dropout, Linear."""

    def __init__(self, dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor, cls: Tensor | None) -> Tensor:
        return self.fc(self.drop(self.norm(x).mean(dim=(1, 2))))
