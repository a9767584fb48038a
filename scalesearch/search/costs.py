"""The costs a study may weigh against accuracy, one row each.

A cost is a field of a trial's record (`store.schema.TrialRecord`), an axis optuna-dashboard
names, a way it is measured and a way it is read. Adding one is a row here plus its
measurement (a count in `arch.runtime_counts`, say); the settings' check, the studies'
metric names, the records' values, the rung rules, the progress lines, the tables and the
report all read this table.

- "counted" costs come from the network alone (on the meta device: the same on every
  machine); "timed" ones are measured on the device that trained the trial, comparable only
  among trials of one device type.
- `level` marks the cost that equal-cost realisation holds level across a search's
  candidates (MACs): it cannot tell them apart, so the race and the rung rules leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalesearch.formatting import human, milliseconds

ACCURACY, ACCURACY_METRIC = "accuracy", "val_accuracy"


@dataclass(frozen=True)
class Cost:
    """One cost objective (minimised)."""

    name: str  # in a space's `search.objectives`
    field: str  # the TrialRecord field that holds it
    metric: str  # the axis name optuna-dashboard shows
    source: str  # "cost" (MACs, params), "runtime" (counted on meta) or "timed" (latency)
    unit: str
    level: bool = False  # held level by equal-cost realisation

    def format(self, value: float) -> str:
        """The value as people read it: "3.14 ms", "39.1 M MACs", "128 layers"."""
        return milliseconds(value) if self.unit == "ms" else human(value, self.unit)


COSTS = {
    c.name: c
    for c in (
        Cost("macs", "macs", "MACs", "cost", "MACs", level=True),
        Cost("params", "params", "params", "cost", "params"),
        Cost("latency", "latency_ms", "latency_ms", "timed", "ms"),
        Cost("activations", "activations", "activations", "runtime", "activations"),
        Cost("attention_maps", "attention_maps", "attention_maps", "runtime", "attention maps"),
        Cost("layers", "layers", "sequential_layers", "runtime", "layers"),
        Cost("kernels", "kernels", "kernels", "runtime", "kernels"),
    )
}
OBJECTIVE_DIRECTIONS = {ACCURACY: "maximize", **dict.fromkeys(COSTS, "minimize")}
RUNTIME_COUNTS = tuple(name for name, c in COSTS.items() if c.source == "runtime")


def metric_name(objective: str) -> str:
    """The axis name a study shows for an objective."""
    return ACCURACY_METRIC if objective == ACCURACY else COSTS[objective].metric


def costs_of_metrics(metric_names: list[str] | None) -> tuple[str, ...]:
    """The costs a study's objectives after accuracy measure, from its metric names (MACs
    for a study made before metric names were recorded)."""
    by_metric = {c.metric: name for name, c in COSTS.items()}
    names = metric_names or [ACCURACY_METRIC, COSTS["macs"].metric]
    return tuple(by_metric.get(n, n) for n in names[1:])


def varying(costs: tuple[str, ...]) -> tuple[str, ...]:
    """The costs that can tell equal-cost candidates apart (all but the level ones)."""
    return tuple(c for c in costs if not COSTS[c].level)


def cell(cost: str, value: float | None) -> str:
    """A cost's value in a table whose column names it: "39.1 M", "128", "3.14 ms" ("-"
    where it was not measured)."""
    if value is None:
        return "-"
    return milliseconds(value) if COSTS[cost].unit == "ms" else human(value)
