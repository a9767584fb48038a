"""What the official codes' initialisation predicts for each parameter of a preset.

Derived from the rules, not from scalesearch's implementation (../shared/reference/
architectures.md, "Initialisation"), so that tests and bench/init_table.py can hold the
model's weights against them:

- trunc-normal(std σ, cut at ±2): std σ (the cut is 100σ away at σ = 0.02);
- kaiming-normal, fan_out, ReLU gain: std √(2/fan_out), fan_out = out·k·k (PyTorch does not
  divide by groups);
- PyTorch's conv default, kaiming-uniform(a=√5): U(±1/√fan_in) with fan_in = in/groups·k·k,
  so std 1/√(3·fan_in); its bias the same; a Linear's default bias U(±1/√in), std 1/√(3·in);
- torch.randn: std 1; norms: weight 1, bias 0.
"""

from __future__ import annotations

import math

from torch import Tensor

# Role of a parameter → how its expected std is derived from its shape.
ROLES = (
    "conv weight",
    "depthwise conv weight",
    "conv bias",
    "irffn 1x1 weight",
    "linear weight",
    "linear bias",
    "classifier bias",
    "relative position bias",
    "class token",
    "norm weight",
    "norm bias",
)


def role(name: str, param: Tensor, convs: dict[str, int], norms: set[str]) -> str:
    """The parameter's role, from its module's kind (convs: name → fan_in, norms: names)."""
    owner = name.rsplit(".", 1)[0]
    if name.endswith("rel_pos.bias"):
        return "relative position bias"
    if name.endswith("cls_token"):
        return "class token"
    if owner in norms:
        return "norm weight" if name.endswith("weight") else "norm bias"
    if owner in convs:
        if name.endswith("bias"):
            return "conv bias"
        return "depthwise conv weight" if param.shape[1] == 1 else "conv weight"
    if owner.endswith(("ffn.expand", "ffn.project")):
        return "irffn 1x1 weight" if name.endswith("weight") else "linear bias"
    if owner == "head.fc" and name.endswith("bias"):
        return "classifier bias"
    return "linear weight" if name.endswith("weight") else "linear bias"


def expected(scheme: str, role_: str, param: Tensor, fan_in: int | None) -> tuple[float, float]:
    """(mean, std) the official `scheme` ("cvt" or "cmt") gives a parameter of this role."""
    if role_ == "norm weight":
        return 1.0, 0.0
    if role_ in ("norm bias", "linear bias"):
        return 0.0, 0.0
    if role_ in ("linear weight", "class token"):
        return 0.0, 0.02
    if role_ == "relative position bias":
        return 0.0, 1.0
    if role_ == "irffn 1x1 weight":  # a 1×1 conv in the official CMT: fan_out = out
        return 0.0, math.sqrt(2.0 / param.shape[0])
    if role_ == "classifier bias":  # CvT keeps nn.Linear's default bias; CMT zeroes it
        return (0.0, 1.0 / math.sqrt(3 * fan_in)) if scheme == "cvt" else (0.0, 0.0)
    if scheme == "cmt":  # conv weight and bias
        k2 = param.shape[-1] * param.shape[-2] if param.ndim == 4 else 1
        return (0.0, math.sqrt(2.0 / (param.shape[0] * k2))) if param.ndim == 4 else (0.0, 0.0)
    return 0.0, 1.0 / math.sqrt(3 * fan_in)  # CvT's convs keep PyTorch's default


def expectations(model, scheme: str) -> list[tuple[str, str, Tensor, float, float]]:
    """(name, role, values, expected mean, expected std) of every parameter of `model`."""
    from torch import nn

    convs = {
        n: m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    }
    norms = {n for n, m in model.named_modules() if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d))}
    rows = []
    for name, param in model.named_parameters():
        r = role(name, param, convs, norms)
        owner = name.rsplit(".", 1)[0]
        fan_in = convs.get(owner) or (
            model.get_submodule(owner).in_features if r == "classifier bias" else None
        )
        mean, std = expected(scheme, r, param, fan_in)
        rows.append((name, r, param.detach(), mean, std))
    return rows


def group_ratios(model, scheme: str) -> dict[str, tuple[float, float, int]]:
    """Per role: (measured std / expected std pooled over the role's tensors, mean / expected
    std, values), or for constants (std 0): (largest deviation from the constant, 0, values)."""
    sums: dict[str, list[float]] = {}
    for _, r, values, mean, std in expectations(model, scheme):
        v = values.double().flatten()
        acc = sums.setdefault(r, [0.0, 0.0, 0.0, 0.0])  # Σz, Σz², n, max |dev| for constants
        if std == 0.0:
            acc[3] = max(acc[3], float((v - mean).abs().max()))
        else:
            z = (v - mean) / std
            acc[0] += float(z.sum())
            acc[1] += float((z * z).sum())
        acc[2] += v.numel()
    out = {}
    for r, (sz, szz, n, dev) in sums.items():
        if sz == 0.0 and szz == 0.0:
            out[r] = (dev, 0.0, int(n))
        else:
            mean = sz / n
            out[r] = (math.sqrt(max(szz / n - mean * mean, 0.0)), mean, int(n))
    return out
