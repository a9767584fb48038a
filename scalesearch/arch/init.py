"""Initialisation as the papers' official code does it, part by part.

The two codes agree on most things and differ on convolutions:

| part | official CvT (`init: trunc_norm`) | official CMT |
|---|---|---|
| Linear | weight trunc-normal std 0.02, bias 0 | the same |
| LayerNorm, BatchNorm | weight 1, bias 0 | the same |
| Conv2d | PyTorch's default: kaiming-uniform a=√5, bias U(±1/√fan_in) | kaiming-normal fan_out, bias 0 |
| class token | trunc-normal std 0.02 | (none) |
| classifier | weight trunc-normal 0.02, bias PyTorch's default | as every Linear |
| relative position bias | (none) | `torch.randn`, std 1 |

CMT's kaiming-normal uses PyTorch's fan_out = out_channels·k·k, *not* divided by groups, so
a depthwise conv starts with std √(2/(C·k²)): small. CMT's IRFFN 1×1 convs are Linears here
(same weights, one GEMM); they take the conv rule, std √(2/out), as the official convs do.

A part only one paper has follows that paper (stem, LPU, lightweight attention, IRFFN and the
conv head: CMT; convolutional projection, class token and its head: CvT), so a hybrid gets
each part's origin. The parts both have — the token embedding conv, and the bias of the
plain pooled head, which neither paper has — follow the spec's `init`: "cvt" or "cmt".
"v0" is scalesearch 0.1's rule (every conv normal √(2/(k²·out/groups)), bias 0, relative
position bias std 0.02), kept so that trials stored before 0.2 rebuild as they trained, and
used by the laptop CMT spaces: their 2-epoch proxies learn far faster with it (93% against
52–66% for the official init, cmt_compound's defaults at φ = 1, three seeds).
"""

from __future__ import annotations

import math

from torch import nn

from scalesearch.arch.blocks import (
    Attention,
    ConvEmbedding,
    ConvStem,
    InvertedResidualFFN,
    LocalPerception,
    RelativePositionBias,
)
from scalesearch.arch.heads import ClassTokenHead, ConvPoolHead, PoolHead


def initialize(model: nn.Module, scheme: str) -> None:
    """Initialises every parameter of a built network by `scheme` ("cvt", "cmt" or "v0")."""
    if scheme == "v0":
        model.apply(_v0)
        return
    for module in model.modules():  # what both codes agree on
        if isinstance(module, nn.Linear):
            _trunc_normal_linear(module)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for name, param in model.named_parameters():
        if name.endswith("cls_token"):
            nn.init.trunc_normal_(param, std=0.02)
    for module in model.modules():
        _init_part(module, scheme)


def _init_part(module: nn.Module, scheme: str) -> None:
    if isinstance(module, (ConvStem, LocalPerception, ConvPoolHead)):
        _convs(module, cmt_conv)
    elif isinstance(module, ConvEmbedding):
        (cmt_conv if scheme == "cmt" else cvt_conv)(module.proj)
    elif isinstance(module, Attention):
        if module.kv_conv is not None:
            cmt_conv(module.kv_conv.conv)
        for part in (module.q_conv, module.k_conv, module.v_conv):
            if part is not None:
                cvt_conv(part.conv)
    elif isinstance(module, InvertedResidualFFN):
        cmt_conv(module.dwconv)
        for linear in (module.expand, module.project):  # 1×1 convs in the official code
            nn.init.kaiming_normal_(linear.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(linear.bias)
    elif isinstance(module, RelativePositionBias):
        nn.init.normal_(module.bias, std=1.0)
    elif isinstance(module, ClassTokenHead) or (isinstance(module, PoolHead) and scheme == "cvt"):
        _default_bias(module.fc)


def cmt_conv(conv: nn.Conv2d) -> None:
    """Kaiming-normal, fan_out mode (std √(2/(out·k·k))), bias 0: official CMT."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def cvt_conv(conv: nn.Conv2d) -> None:
    """PyTorch's default (kaiming-uniform a=√5, bias U(±1/√fan_in)): official CvT."""
    conv.reset_parameters()


def _convs(module: nn.Module, rule) -> None:
    for child in module.modules():
        if isinstance(child, nn.Conv2d):
            rule(child)


def _trunc_normal_linear(linear: nn.Linear) -> None:
    nn.init.trunc_normal_(linear.weight, std=0.02)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


def _default_bias(linear: nn.Linear) -> None:
    """nn.Linear's own bias rule, U(±1/√fan_in), which CvT's classifier keeps."""
    bound = 1.0 / math.sqrt(linear.in_features)
    nn.init.uniform_(linear.bias, -bound, bound)


def _v0(module: nn.Module) -> None:
    """scalesearch 0.1: trunc-normal(0.02) linears, fan-out/groups convs, bias 0."""
    if isinstance(module, nn.Linear):
        _trunc_normal_linear(module)
    elif isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        nn.init.normal_(module.weight, std=(2.0 / (fan_out // module.groups)) ** 0.5)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    # Norms keep their constructors' 1 and 0; relative position biases keep the std 0.02
    # their constructor drew. Same draws in the same order as 0.1, so the same weights.
    for name, param in module.named_parameters(recurse=False):
        if name == "cls_token":
            nn.init.trunc_normal_(param, std=0.02)
