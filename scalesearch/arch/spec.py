"""Architecture specs: the data that describes one network of the CvT–CMT family.

A spec is a frozen dataclass tree (`ArchSpec` → `StageSpec` → `EmbedSpec`, `BlockSpec`),
validated on construction, serialisable to JSON and back, with a stable hash. Models are
built from specs (`scalesearch.arch.model.build_model`); specs never hold modules or tensors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from scalesearch.arch.parts import (
    BlockSpec,
    EmbedSpec,
    HeadSpec,
    StageSpec,
    StemSpec,
    conv_out,
    require,
)
from scalesearch.decode import DecodeError, decode, encode
from scalesearch.errors import SpecError

__all__ = [
    "ArchSpec",
    "BlockSpec",
    "EmbedSpec",
    "HeadSpec",
    "StageGeometry",
    "StageSpec",
    "StemSpec",
    "conv_out",
]


InitScheme = Literal["cvt", "cmt", "v0"]

# Fields added after specs were first stored, with the value every older spec implicitly had.
# At that value they stay out of the hash, so the hashes stored with older trials still
# match their specs (and a resumed study still recognises its twins).
LATER_FIELDS = {"init": "v0", "drop_path_rate": 0.0}


@dataclass(frozen=True)
class StageGeometry:
    """Token grid of a stage at a given input size (derived, never stored)."""

    height: int
    width: int
    kv_height: int
    kv_width: int

    @property
    def tokens(self) -> int:
        return self.height * self.width

    @property
    def kv_tokens(self) -> int:
        return self.kv_height * self.kv_width


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: optional stem, stages, head, and the input it is built for.

    Attributes:
        init: how the weights start (`scalesearch.arch.init`): parts only one paper has
            always follow that paper's official code; the parts both have (token embedding
            convs, a pooled head's bias) follow "cvt" or "cmt". "v0" is the rule of
            scalesearch 0.1, which every spec stored without this field was trained with.
        drop_path_rate: CMT's stochastic depth, one ramp `linspace(0, rate, all blocks)`
            over the whole network; 0 leaves the stages' own per-stage ramps (CvT's).
    """

    name: str
    resolution: int
    stages: tuple[StageSpec, ...]
    head: HeadSpec = HeadSpec()
    stem: StemSpec | None = None
    in_chs: int = 3
    num_classes: int = 1000
    init: InitScheme = "cmt"
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        require(len(self.stages) >= 1, "an ArchSpec needs at least one stage, but got none")
        require(self.in_chs >= 1, f"in_chs must be >= 1, but got {self.in_chs}")
        require(self.num_classes >= 1, f"num_classes must be >= 1, but got {self.num_classes}")
        require(self.resolution >= 1, f"resolution must be >= 1, but got {self.resolution}")
        require(
            0.0 <= self.drop_path_rate < 1.0,
            f"drop_path_rate must be in [0, 1), but got {self.drop_path_rate}",
        )
        require(
            self.drop_path_rate == 0.0 or all(s.drop_path_rate == 0.0 for s in self.stages),
            "set either the network's drop_path_rate (one ramp over all blocks, CMT) or the "
            "stages' drop_path_rate (a ramp per stage, CvT), not both",
        )
        if self.head.kind == "cls_token":
            stage = self.cls_stage
            require(
                0 <= stage < len(self.stages),
                f"head.cls_stage must index a stage (0..{len(self.stages) - 1}), but got {stage}",
            )
            for i in range(stage, len(self.stages)):
                require(
                    self.stages[i].block.ffn == "mlp",
                    f"stages[{i}].block.ffn must be 'mlp' where a class token exists (stage "
                    f">= cls_stage={stage}): IRFFN needs a grid; use head kind 'conv_pool' or "
                    f"'pool', or a later cls_stage",
                )
        self.geometry(self.resolution)  # raises SpecError when a kernel or stride does not fit

    @property
    def cls_stage(self) -> int:
        """Index of the stage where the class token joins (-1 tokens: no class token)."""
        if self.head.kind != "cls_token":
            return -1
        return len(self.stages) - 1 if self.head.cls_stage is None else self.head.cls_stage

    def drop_path_rates(self) -> tuple[tuple[float, ...], ...]:
        """Stochastic-depth rate of every block, stage by stage.

        Network rate r over B blocks: block b of the network gets r·b/(B−1) (CMT's
        `linspace(0, r, B)`). Otherwise a stage ramps from the previous stage's last rate to
        its own, block j of D at start + (end − start)·j/(D−1) (CvT's per-stage linspace).
        """
        if self.drop_path_rate > 0.0:
            total = sum(s.depth for s in self.stages)
            steps = max(total - 1, 1)
            rates, begin = [], 0
            for stage in self.stages:
                rates.append(
                    tuple(self.drop_path_rate * (begin + j) / steps for j in range(stage.depth))
                )
                begin += stage.depth
            return tuple(rates)
        rates, start = [], 0.0
        for stage in self.stages:
            end, steps = stage.drop_path_rate, max(stage.depth - 1, 1)
            rates.append(tuple(start + (end - start) * j / steps for j in range(stage.depth)))
            start = end
        return tuple(rates)

    @property
    def total_stride(self) -> int:
        """Product of the stem's and embeddings' strides: how much the input shrinks."""
        stride = 2 if self.stem is not None else 1
        return stride * math.prod(s.embed.stride for s in self.stages)

    def geometry(self, resolution: int) -> list[StageGeometry]:
        """Token grids of every stage for a square input of side `resolution`.

        Raises:
            SpecError: a kernel does not fit its input, or a reduction does not divide the grid.
        """
        return spec_geometry(self, resolution)

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces, so equal specs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Decodes a stored spec; one stored without `init` (before 0.2) gets "v0", the
        initialisation it was trained with."""
        if isinstance(data, dict) and "init" not in data:
            data = {**data, "init": LATER_FIELDS["init"]}
        try:
            return decode(cls, data)
        except DecodeError as err:
            raise SpecError(f"invalid spec: {err}") from err

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        return cls.from_dict(json.loads(text))

    def spec_hash(self) -> str:
        """A stable 16-hex-digit hash of the architecture (the name is not part of it)."""
        data = self.to_dict()
        data.pop("name")
        for key, old in LATER_FIELDS.items():
            if data[key] == old:
                del data[key]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> ArchSpec:
        return dataclasses.replace(self, **changes)


def spec_geometry(spec: ArchSpec, resolution: int) -> list[StageGeometry]:
    """`ArchSpec.geometry`: the stem's, then each stage's embedding and attention grids."""
    size = resolution
    if spec.stem is not None:
        size = conv_out(size, 3, 2, 1)
    grids = []
    for i, stage in enumerate(spec.stages):
        embed = stage.embed
        require(
            size + 2 * embed.padding >= embed.kernel_size,
            f"stages[{i}].embed.kernel_size={embed.kernel_size} does not fit a "
            f"{size}x{size} grid (padding {embed.padding}) at resolution {resolution}; "
            f"use a larger resolution or a smaller kernel",
        )
        size = conv_out(size, embed.kernel_size, embed.stride, embed.padding)
        grids.append(_stage_geometry(spec, i, stage, size, resolution))
    return grids


def _stage_geometry(
    spec: ArchSpec, index: int, stage: StageSpec, size: int, resolution: int
) -> StageGeometry:
    block = stage.block
    if block.attention == "conv":
        pad = block.proj_kernel // 2
        require(
            size + 2 * pad >= block.proj_kernel,
            f"stages[{index}].block.proj_kernel={block.proj_kernel} does not fit the "
            f"{size}x{size} grid at resolution {resolution}",
        )
        kv = conv_out(size, block.proj_kernel, block.kv_stride, pad)
    elif block.attention == "light" and block.kv_reduction > 1:
        k = block.kv_reduction
        require(
            size % k == 0,
            f"stages[{index}].block.kv_reduction={k} must divide the stage's "
            f"{size}x{size} token grid at resolution {resolution}; use a resolution "
            f"that is a multiple of {spec.total_stride} or a smaller kv_reduction",
        )
        kv = size // k
    else:
        kv = size
    return StageGeometry(size, size, kv, kv)
