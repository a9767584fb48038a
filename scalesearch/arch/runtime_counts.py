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

All are for one image (batch 1), in eval mode, counted in the same meta pass as MACs
(`arch.cost`), and like MACs from a shape's counts at depths 1 and 2
(`arch.equal_cost.count_runtime`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

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

    def __add__(self, other: RuntimeCounts) -> RuntimeCounts:
        return RuntimeCounts(*(a + b for a, b in zip(self._values(), other._values())))

    def __sub__(self, other: RuntimeCounts) -> RuntimeCounts:
        return RuntimeCounts(*(a - b for a, b in zip(self._values(), other._values())))

    def __mul__(self, times: int) -> RuntimeCounts:
        return RuntimeCounts(*(a * times for a in self._values()))

    def _values(self) -> tuple[int, ...]:
        return (self.activations, self.attention_maps, self.layers, self.kernels)


NONE = RuntimeCounts(0, 0, 0, 0)


class StandIn(nn.Module):
    """Runs in a count in place of a norm or activation: on `meta` those run through torch's
    Python decompositions (over half of a count's time) and add no MACs. It returns a tensor
    laid out as the module's output (so every later operator dispatches as it would) and
    counts the operators the module dispatches in eval (tested against the real modules)."""

    def __init__(self, contiguous: bool, kernels: int) -> None:
        super().__init__()
        self.contiguous, self.kernels = contiguous, kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # one operator: an allocation
        if self.contiguous:
            return torch.empty(x.shape, dtype=x.dtype, device=x.device)
        return torch.empty_like(x)


# Output layout and operators in eval: BatchNorm keeps the input's memory format (an
# allocation and the norm), LayerNorm writes a contiguous tensor (one), GELU as its input (one).
_STAND_INS = {nn.BatchNorm2d: (False, 2), nn.LayerNorm: (True, 1), nn.GELU: (False, 1)}


def with_stand_ins(model: nn.Module) -> nn.Module:
    """`model` with its norms and GELUs replaced by `StandIn`s (count its parameters first)."""
    for parent in model.modules():
        for name, child in parent.named_children():
            kind = _STAND_INS.get(type(child))
            if kind is not None:
                setattr(parent, name, StandIn(*kind))
    return model


class RuntimeCounter(TorchDispatchMode):
    """Counts while a model runs under it (eval, no_grad): every ATen operator, the attention
    maps of those that compute attention, the outputs of convolutions and linear layers
    (hooks) and, given torch's flop formulas (`arch.cost`), FLOPs: one meta pass serves MACs
    and runtime counts. A snapshot as each of the model's `stages` starts and ends gives
    the counts per stage.
    """

    def __init__(self, model: nn.Module, flop_formulas: Mapping | None = None) -> None:
        super().__init__()
        self.model, self.formulas = model, flop_formulas or {}
        self.kernels = self.attentions = self.attention_maps = 0
        self.activations = self.outputs = self.flops = 0
        self._opened: list[tuple[RuntimeCounts, int]] = []
        self.per_stage: list[tuple[RuntimeCounts, int]] = []  # (counts, FLOPs) per stage

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.kernels += 1
        if func in _SOFTMAX_OPS:  # over the maps themselves: (B, heads, N, M)
            self.attentions += 1
            self.attention_maps += args[0].numel()
        elif func in _FUSED_ATTENTION_OPS:
            query, key = args[0], args[1]  # (B, heads, N, d) and (B, heads, M, d)
            self.attentions += 1
            self.attention_maps += query.shape[0] * query.shape[1] * query.shape[2] * key.shape[2]
        out = func(*args, **(kwargs or {}))
        formula = self.formulas.get(func.overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **(kwargs or {}), out_val=out)
        return out

    def counts(self) -> RuntimeCounts:
        """What ran so far."""
        return RuntimeCounts(
            activations=self.activations,
            attention_maps=self.attention_maps,
            layers=self.outputs + self.attentions,
            kernels=self.kernels,
        )

    def __enter__(self) -> RuntimeCounter:
        modules = list(self.model.modules())
        self._hooks = [
            m.register_forward_hook(self._on_output)
            for m in modules
            if isinstance(m, (nn.Conv2d, nn.Linear))
        ]
        self._hooks += [
            m.register_forward_hook(self._on_stand_in) for m in modules if isinstance(m, StandIn)
        ]
        for stage in getattr(self.model, "stages", ()):
            self._hooks.append(stage.register_forward_pre_hook(self._stage_starts))
            self._hooks.append(stage.register_forward_hook(self._stage_ends))
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        super().__exit__(*exc)

    def _on_output(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        self.activations += output.numel()
        self.outputs += 1

    def _on_stand_in(self, module: StandIn, inputs, output) -> None:
        self.kernels += module.kernels - 1  # its allocation was counted as it ran

    def _stage_starts(self, module: nn.Module, inputs) -> None:
        self._opened.append((self.counts(), self.flops))

    def _stage_ends(self, module: nn.Module, inputs, output) -> None:
        counts, flops = self._opened.pop()
        self.per_stage.append((self.counts() - counts, self.flops - flops))
