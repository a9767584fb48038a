"""What a network's runtime depends on beyond its MACs, counted on `meta` like MACs.

At equal MACs, scaling strategies reach similar accuracy with very different runtime (Dollár
et al., 2021, "Fast and Accurate Model Scaling"): on GPUs at large batches the *activations*
— output elements of every conv and linear layer, i.e. the memory a forward pass writes —
rank runtime far better than FLOPs. A small model on a CPU at batch 1 is another regime: its
arithmetic takes a millisecond or two, and each operator costs a fixed overhead whatever its
size, so the number of operators run one after another may matter more. Which count ranks
the measured latency of a search's members is measured (`bench/runtime_proxy.py`), not
assumed; the counts are here:

- `activations`: output elements of every convolution and linear layer (Dollár's count). The
  attention maps (heads × queries × keys per attention) are not in it: they are the output
  of neither a conv nor a linear layer, and a fused kernel (flash attention on GPUs) never
  writes them to memory. They are counted apart (`attention_maps`), since the CPU paths do
  write them.
- `layers`: convolutions, linear layers and attentions, in the order they run: the length of
  the chain of sequential layers (at batch 1 nothing runs in parallel on a CPU).
- `kernels`: every ATen operator a forward pass dispatches (eval mode), views and norms
  included: what eager PyTorch pays its per-operator overhead on.

All are for one image (batch 1), in eval mode; each (spec, size) is counted once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from scalesearch.arch.spec import ArchSpec

aten = torch.ops.aten

# Operators that compute attention: SDPA's fused backends, and the softmax of its math path
# (which `meta` takes, as does any attention written out as two GEMMs).
_SOFTMAX_OPS = {aten._safe_softmax.default, aten._softmax.default}
_FUSED_ATTENTION_OPS = {
    aten._scaled_dot_product_flash_attention_for_cpu.default,
    aten._scaled_dot_product_flash_attention.default,
    aten._scaled_dot_product_efficient_attention.default,
    aten._scaled_dot_product_cudnn_attention.default,
    aten.scaled_dot_product_attention.default,
}


@dataclass(frozen=True)
class RuntimeCounts:
    """Counts that may rank runtime at equal MACs (see the module docstring)."""

    activations: int
    attention_maps: int
    layers: int
    kernels: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class _Dispatched(TorchDispatchMode):
    """Counts every ATen operator, and the attention maps of those that compute attention."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels = self.attentions = self.attention_maps = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.kernels += 1
        if func in _SOFTMAX_OPS:  # over the maps themselves: (B, heads, N, M)
            self.attentions += 1
            self.attention_maps += args[0].numel()
        elif func in _FUSED_ATTENTION_OPS:
            query, key = args[0], args[1]  # (B, heads, N, d) and (B, heads, M, d)
            self.attentions += 1
            self.attention_maps += query.shape[0] * query.shape[1] * query.shape[2] * key.shape[2]
        return func(*args, **(kwargs or {}))


def count_runtime(spec: ArchSpec, resolution: int | None = None) -> RuntimeCounts:
    """The runtime counts of `spec` for one image of side `resolution` (default: its own)."""
    return _count(spec, spec.resolution if resolution is None else resolution)


@functools.lru_cache(maxsize=4096)
def _count(spec: ArchSpec, resolution: int) -> RuntimeCounts:
    from scalesearch.arch.cost import meta_model

    spec.geometry(resolution)  # a clear SpecError if the network cannot take this size
    model = meta_model(spec)
    written = [0, 0]  # output elements of conv and linear layers, and how many ran

    def on_output(module: nn.Module, inputs, output: torch.Tensor) -> None:
        written[0] += output.numel()
        written[1] += 1

    hooks = [
        m.register_forward_hook(on_output)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    dispatched = _Dispatched()
    try:
        with torch.no_grad(), dispatched:
            model(torch.empty(1, spec.in_chs, resolution, resolution, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return RuntimeCounts(
        activations=written[0],
        attention_maps=dispatched.attention_maps,
        layers=written[1] + dispatched.attentions,
        kernels=dispatched.kernels,
    )
