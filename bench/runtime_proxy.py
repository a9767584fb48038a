"""Which count ranks the latency of equal-cost members: activations, MACs, params, layers?

At equal MACs the search needs a second objective that still varies, and runtime does.
Dollár et al. (2021) found activations rank GPU runtime at large batches; a small model on a
CPU at batch 1 is another regime. This measures it instead of assuming it: for each shipped
space, ≥ 20 distinct members at the search φ, realised at equal counted MACs as the search
realises them ((α, β) on a grid, γ solved; random part choices where the space has them),
each timed quietly (nothing else running, the search's threads per trial, eval mode, median
of `torch.utils.benchmark` runs) at batch 1 and batch 8, in several passes of shuffled order.
It prints Kendall τ between each count and the mean latency over the passes, and the noise
ceiling: the mean τ between two passes (no count can rank latency better than latency ranks
itself).

    python bench/runtime_proxy.py [--spaces cmt_compound cvt_compound ...] [--members 24]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import torch
from scipy.stats import kendalltau

from scalesearch.arch.equal_cost import count_runtime
from scalesearch.arch.latency import measure_latency
from scalesearch.arch.model import HybridNet
from scalesearch.search.space import Coefficients, SearchSpace, list_spaces, load_space

RESULTS = Path(__file__).resolve().parent / "results" / "runtime_proxy.json"
COUNTS = (
    "activations",
    "activations+maps",
    "attention_maps",
    "layers",
    "kernels",
    "macs",
    "params",
)


def members(space: SearchSpace, wanted: int, seed: int = 0) -> list[dict]:
    """Distinct equal-cost members at the search φ, spread over the (α, β) ranges."""
    rng = random.Random(seed)
    s, phi = space.scaling, space.scaling.search_phi
    grid = [(a / 20, b / 20) for a in range(20, 33) for b in range(20, 33)]
    rng.shuffle(grid)
    found: dict[str, dict] = {}
    for alpha, beta in grid:
        if not (s.alpha.low <= alpha <= s.alpha.high and s.beta.low <= beta <= s.beta.high):
            continue
        gamma = s.constraint.solve_gamma(alpha, beta)
        if not s.gamma.low <= gamma <= s.gamma.high:
            continue
        choices = {
            f"stage{i}.{part}": rng.choice(options)
            for i, stage in enumerate(space.stage_choices)
            for part, options in stage.items()
        }
        try:
            member = space.realize(phi, Coefficients(alpha, beta, gamma), choices)
        except ValueError:  # a part choice the spec rejects (e.g. IRFFN beside a class token)
            continue
        if not member.within_tolerance or member.spec.spec_hash() in found:
            continue
        found[member.spec.spec_hash()] = {"alpha": alpha, "beta": beta, "member": member}
        if len(found) == wanted:
            break
    return list(found.values())


def counts_of(member) -> dict[str, int]:
    spec = member.spec
    runtime = count_runtime(spec)
    model = HybridNet(spec, init_weights=False)
    return {
        "activations": runtime.activations,
        "activations+maps": runtime.activations + runtime.attention_maps,
        "attention_maps": runtime.attention_maps,
        "layers": runtime.layers,
        "kernels": runtime.kernels,
        "macs": member.macs,
        "params": sum(p.numel() for p in model.parameters()),
    }


def time_pass(rows: list[dict], batch: int, seconds: float, seed: int) -> None:
    """One timing pass over every member, in a shuffled order, appended to its rows."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    for i in order:
        row = rows[i]
        model = HybridNet(row["member"].spec).eval()
        latency = measure_latency(model, row["member"].spec.resolution, batch, "cpu", seconds)
        row.setdefault("ms1", []).append(latency.ms_batch1)
        row.setdefault(f"ms{batch}", []).append(latency.ms_batch)


def tau(x: list[float], y: list[float]) -> float:
    return float(kendalltau(x, y).statistic)


CEILING = "ceiling (pass vs pass)"


def bench_space(
    name: str, wanted: int, batch: int, seconds: float, threads: int, passes: int
) -> dict:
    space = load_space(name)
    torch.set_num_threads(threads)
    rows = members(space, wanted)
    for row in rows:
        row["counts"] = counts_of(row["member"])
    for k in range(passes):
        time_pass(rows, batch, seconds, seed=k)
    table: dict[str, dict[str, float]] = {}
    pairs = [(i, j) for i in range(passes) for j in range(i + 1, passes)]
    for key in ("ms1", f"ms{batch}"):
        mean = [statistics.fmean(r[key]) for r in rows]
        table[key] = {c: tau([r["counts"][c] for r in rows], mean) for c in COUNTS}
        table[key][CEILING] = statistics.fmean(
            tau([r[key][i] for r in rows], [r[key][j] for r in rows]) for i, j in pairs
        )
        table[key]["span"] = max(mean) / min(mean)
    spans = {
        c: max(r["counts"][c] for r in rows) / max(1, min(r["counts"][c] for r in rows))
        for c in COUNTS
    }
    return {
        "space": name,
        "members": len(rows),
        "threads": threads,
        "batch": batch,
        "tau": table,
        "count_spans": spans,
        "rows": [
            {
                "alpha": r["alpha"],
                "beta": r["beta"],
                "resolution": r["member"].spec.resolution,
                "depths": [st.depth for st in r["member"].spec.stages],
                "dims": [st.dim for st in r["member"].spec.stages],
                **r["counts"],
                "ms1": r["ms1"],
                f"ms{batch}": r[f"ms{batch}"],
            }
            for r in rows
        ],
    }


def print_table(result: dict) -> None:
    batch = result["batch"]
    print(
        f"\n{result['space']}: {result['members']} equal-cost members, {result['threads']} "
        f"thread(s); latency spans {result['tau']['ms1']['span']:.2f}x (batch 1), "
        f"{result['tau'][f'ms{batch}']['span']:.2f}x (batch {batch})"
    )
    print(f"{'count':<24}{'tau batch 1':>12}{f'tau batch {batch}':>13}{'count span':>12}")
    for c in (*COUNTS, CEILING):
        span = f"{result['count_spans'][c]:.2f}x" if c in result["count_spans"] else ""
        print(
            f"{c:<24}{result['tau']['ms1'][c]:>12.2f}{result['tau'][f'ms{batch}'][c]:>13.2f}"
            f"{span:>12}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", nargs="+", default=list_spaces())
    parser.add_argument("--members", type=int, default=24)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.3, help="timed seconds per size")
    parser.add_argument("--threads", type=int, default=1, help="the search's threads per trial")
    parser.add_argument("--passes", type=int, default=3, help="timing passes, shuffled")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for name in args.spaces:
        result = bench_space(
            name, args.members, args.batch, args.seconds, args.threads, args.passes
        )
        results[name] = result
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
        print_table(result)


if __name__ == "__main__":
    main()
