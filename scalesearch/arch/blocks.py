"""The block family's parts as small modules.

Layout: tokens travel as a channels-last grid `x` of shape (B, H, W, C); a class token,
where there is one, travels beside it as `cls` of shape (B, 1, C). Linears, LayerNorms and
attention act on the last dimension directly; convolutions and BatchNorms act on
`x.permute(0, 3, 1, 2)`, an NCHW *view* in channels-last memory, so no part copies the
tokens to change layout (PyTorch's CPU and CUDA convolutions take channels-last natively).

Modules here know nothing of specs; `scalesearch.arch.model` wires them from a spec.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def to_nchw(x: Tensor) -> Tensor:
    """(B, H, W, C) → (B, C, H, W) view, channels-last in memory."""
    return x.permute(0, 3, 1, 2)


def to_grid(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, H, W, C) view; contiguous when x was channels-last."""
    return x.permute(0, 2, 3, 1)


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution that runs in fp32 under CPU autocast.

    oneDNN's bf16 depthwise backward is a slow path on CPU (measured on AVX-512 BF16, batch
    16, 64 channels at 16²: stride 1 about as fast as fp32, stride 2 20× slower), while the
    conv's FLOPs are a few percent of a block's: fp32 costs nothing and keeps bf16 training
    at bf16 speed elsewhere. Same parameters and state-dict keys as `nn.Conv2d`.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, scale: float) -> Tensor:
    """softmax(q·kᵀ·scale + bias)·v over the last two dimensions, by SDPA.

    On CPU in bf16 as explicit GEMMs with an fp32 softmax instead: PyTorch's CPU bf16 flash
    attention backward runs 2–6× slower than fp32 (measured at 64–256 tokens), the GEMMs at
    bf16 GEMM speed.
    """
    if q.device.type == "cpu" and q.dtype == torch.bfloat16:
        scores = torch.matmul(q, k.transpose(-2, -1)).float() * scale
        if bias is not None:
            scores = scores + bias
        return torch.matmul(scores.softmax(-1).to(v.dtype), v)
    mask = None if bias is None else bias.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


class QuickGELU(nn.Module):
    """x·σ(1.702x): the GELU approximation of the official CvT code."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor, cls: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Scales the grid and its class token by one mask per sample (they are one sequence)."""
        if self.rate == 0.0 or not self.training:
            return x, cls
        keep = 1.0 - self.rate
        mask = x.new_empty(x.shape[0]).bernoulli_(keep) / keep
        scaled_cls = None if cls is None else cls * mask.view(-1, 1, 1)
        return x * mask.view(-1, 1, 1, 1), scaled_cls

    def extra_repr(self) -> str:
        return f"rate={self.rate:.3f}"


class ConvStem(nn.Module):
    """CMT stem: conv 3×3/2 then two convs 3×3/1, each followed by GELU and BatchNorm."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [
                nn.Conv2d(in_chs if i == 0 else out_chs, out_chs, 3, 2 if i == 0 else 1, 1),
                nn.GELU(),
                nn.BatchNorm2d(out_chs),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class ConvEmbedding(nn.Module):
    """Convolutional token embedding: strided conv (with bias), then LayerNorm over channels."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding)
        self.norm = nn.LayerNorm(out_chs)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) → (B, H', W', C_out) tokens.

        Channels-last input makes the conv write channels-last output, so the grid view is
        contiguous and no block downstream copies it (a no-op for a stage's own output).
        """
        x = x.contiguous(memory_format=torch.channels_last)
        return self.norm(to_grid(self.proj(x)))


class LocalPerception(nn.Module):
    """CMT's LPU: x + DWConv3×3(x) on the grid; a class token passes unchanged."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = DepthwiseConv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + to_grid(self.conv(to_nchw(x)))


class DepthwiseConvBN(nn.Module):
    """Depthwise conv then BatchNorm on the grid: CvT's projection and CMT's k/v reduction."""

    def __init__(self, dim: int, kernel_size: int, stride: int, padding: int, bias: bool):
        super().__init__()
        self.conv = DepthwiseConv2d(dim, dim, kernel_size, stride, padding, groups=dim, bias=bias)
        self.norm = nn.BatchNorm2d(dim)

    def forward(self, x: Tensor) -> Tensor:
        return to_grid(self.norm(self.conv(to_nchw(x))))


class RelativePositionBias(nn.Module):
    """CMT's learned bias of shape (heads, N, N_kv), shared by the blocks of a stage.

    It is sized for the grids at the build resolution. At another input size the bias is
    resampled bilinearly over both the query grid and the key grid, so a model built at one
    resolution can be evaluated at another (as ViTs resample position embeddings).
    """

    def __init__(self, num_heads: int, grid: tuple[int, int], kv_grid: tuple[int, int]):
        super().__init__()
        self.grid, self.kv_grid = grid, kv_grid
        tokens, kv_tokens = grid[0] * grid[1], kv_grid[0] * kv_grid[1]
        # scalesearch 0.1's init, drawn here as it was; `scalesearch.arch.init` redraws it for
        # the official schemes (CMT: standard normal).
        self.bias = nn.Parameter(torch.zeros(num_heads, tokens, kv_tokens))
        nn.init.trunc_normal_(self.bias, std=0.02)

    def forward(self, grid: tuple[int, int], kv_grid: tuple[int, int]) -> Tensor:
        # An export (TorchScript's ONNX export, or torch.export under the dynamo exporter)
        # always resamples (an identity at the build size), so that the graph takes other
        # input sizes instead of freezing the comparison made while tracing.
        exporting = torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()
        if grid == self.grid and kv_grid == self.kv_grid and not exporting:
            return self.bias
        return resample_position_bias(self.bias, self.grid, self.kv_grid, grid, kv_grid)


def resample_position_bias(
    bias: Tensor,
    grid: tuple[int, int],
    kv_grid: tuple[int, int],
    new_grid: tuple[int, int],
    new_kv_grid: tuple[int, int],
) -> Tensor:
    """A (heads, N, N_kv) bias for query grid `grid` and key grid `kv_grid`, resampled
    bilinearly to `new_grid` and `new_kv_grid` (keys first, then queries)."""
    heads = bias.shape[0]
    (h, w), (kh, kw) = grid, kv_grid
    # Resample the key axes: rows are (head, query), channels-free 2-D maps over keys.
    b = bias.reshape(heads * h * w, 1, kh, kw)
    b = F.interpolate(b, size=new_kv_grid, mode="bilinear", align_corners=False)
    # Then the query axes: maps over queries, one per (head, key).
    b = b.reshape(heads, h, w, new_kv_grid[0] * new_kv_grid[1]).permute(0, 3, 1, 2)
    b = F.interpolate(b, size=new_grid, mode="bilinear", align_corners=False)
    return b.permute(0, 2, 3, 1).reshape(heads, new_grid[0] * new_grid[1], -1)


class Attention(nn.Module):
    """Multi-head self-attention with a switchable projection.

    - "linear": q, k, v are Linears of the tokens (ViT).
    - "conv": each of q, k, v has its own depthwise conv + BN (stride 1 for q, `kv_stride`
      for k and v) before its Linear (CvT's convolutional projection).
    - "light": k and v share one depthwise `kv_reduction`×`kv_reduction` conv of stride
      `kv_reduction` + BN before their Linears; a relative position bias is added (CMT).

    A class token skips the convolutions and joins in front of the grid tokens for the
    Linears and the attention itself, as in CvT.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        kind: str,
        proj_kernel: int = 3,
        kv_stride: int = 2,
        kv_reduction: int = 1,
        qkv_bias: bool = True,
        scale_by_dim: bool = False,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = dim**-0.5 if scale_by_dim else (dim // num_heads) ** -0.5
        self.q_conv = self.k_conv = self.v_conv = self.kv_conv = None
        if kind == "conv":
            pad = proj_kernel // 2
            self.q_conv = DepthwiseConvBN(dim, proj_kernel, 1, pad, bias=False)
            self.k_conv = DepthwiseConvBN(dim, proj_kernel, kv_stride, pad, bias=False)
            self.v_conv = DepthwiseConvBN(dim, proj_kernel, kv_stride, pad, bias=False)
        elif kind == "light" and kv_reduction > 1:
            self.kv_conv = DepthwiseConvBN(dim, kv_reduction, kv_reduction, 0, bias=True)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: Tensor, cls: Tensor | None, bias: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        B, H, W, C = x.shape
        q_in = self.q_conv(x) if self.q_conv is not None else x
        if self.k_conv is not None:
            k_in, v_in = self.k_conv(x), self.v_conv(x)
        else:
            k_in = v_in = self.kv_conv(x) if self.kv_conv is not None else x
        q = self._heads(self.q(self._tokens(q_in, cls)))
        k = self._heads(self.k(self._tokens(k_in, cls)))
        v = self._heads(self.v(self._tokens(v_in, cls)))
        if bias is not None and cls is not None:
            bias = F.pad(bias, (1, 0, 1, 0))  # the class token gets no position bias
        out = attention(q, k, v, bias, self.scale)
        out = self.proj(out.transpose(1, 2).reshape(B, -1, C))
        if cls is None:
            return out.reshape(B, H, W, C), None
        return out[:, 1:].reshape(B, H, W, C), out[:, :1]

    @staticmethod
    def _tokens(grid: Tensor, cls: Tensor | None) -> Tensor:
        tokens = grid.flatten(1, 2)
        return tokens if cls is None else torch.cat((cls, tokens), dim=1)

    def _heads(self, t: Tensor) -> Tensor:
        B, N, C = t.shape
        return t.reshape(B, N, self.num_heads, C // self.num_heads).transpose(1, 2)


class Mlp(nn.Module):
    """Linear → activation → Linear."""

    def __init__(self, dim: int, hidden: int, act: nn.Module) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class InvertedResidualFFN(nn.Module):
    """CMT's IRFFN: 1×1 → GELU → BN → (DWConv3×3 + residual) → GELU → BN → 1×1 → BN.

    The 1×1 convs are Linears on the channels-last grid: the same weights and MACs as
    `nn.Conv2d(k=1)`, but a single GEMM with no layout change.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.expand = nn.Linear(dim, hidden)
        self.expand_norm = nn.BatchNorm2d(hidden)
        self.dwconv = DepthwiseConv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.dw_norm = nn.BatchNorm2d(hidden)
        self.project = nn.Linear(hidden, dim)
        self.project_norm = nn.BatchNorm2d(dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.expand_norm(to_nchw(F.gelu(self.expand(x))))
        h = self.dw_norm(F.gelu(self.dwconv(h) + h))
        return to_grid(self.project_norm(to_nchw(self.project(to_grid(h)))))


class Block(nn.Module):
    """[local perception] → x + attn(LN(x)) → x + ffn(LN(x)), with stochastic depth.

    A class token goes through the attention with the grid and through the feed-forward
    when it is token-wise (an MLP); the spec forbids IRFFN where a class token exists.
    """

    def __init__(
        self,
        dim: int,
        attention: Attention,
        ffn: nn.Module,
        lpu: nn.Module | None,
        norm_eps: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.lpu = lpu
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = attention
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.ffn = ffn
        self.drop_path = DropPath(drop_path)

    def forward(
        self, x: Tensor, cls: Tensor | None, bias: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        if self.lpu is not None:
            x = self.lpu(x)
        a, a_cls = self.attn(self.norm1(x), None if cls is None else self.norm1(cls), bias)
        x, cls = _add(x, cls, *self.drop_path(a, a_cls))
        f = self.ffn(self.norm2(x))
        f_cls = None if cls is None else self.ffn(self.norm2(cls))
        return _add(x, cls, *self.drop_path(f, f_cls))


def _add(
    x: Tensor, cls: Tensor | None, dx: Tensor, dcls: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    return x + dx, None if cls is None else cls + dcls
