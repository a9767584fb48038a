"""What a trial stores: its phase and a typed record of its user attributes.

Optuna keeps a trial's sampled parameters and objective values; everything that makes it
rebuildable and explainable (the spec JSON above all) lives in its user attributes. The
attribute names are a schema: stored studies depend on them, so renaming one breaks resume.
`TrialRecord` is the one place that maps field names to attribute names and back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from scalesearch.arch.spec import ArchSpec
from scalesearch.search.costs import COSTS
from scalesearch.search.store import sql_tables

# Objectives of a study made before spaces chose theirs: maximize accuracy, minimize MACs.
DIRECTIONS = ("maximize", "minimize")
# Study user attributes. Each driver adds its search budget under its own key, so drivers
# that join a study at once never overwrite one another; the study's budget is their sum.
SPACE_NAME, SPACE_JSON, BUDGET_PREFIX = "space", "space_json", "budget:"
# The proxy settings of the run that created the study (its dataset above all), so that later
# phases (`scalesearch ablate`) train on what the search trained on.
RUN_PROXY = "run_proxy_json"
# The run's layout (0.3 on: "split", a study per fidelity; absent: 0.2's one study), and the
# links between a run's studies: the search study names its phase studies, each phase study
# its run and phase.
LAYOUT, SPLIT = "layout", "split"
# The pooled sd of one proxy accuracy over seeds, as the search's replicates measured it.
SEED_NOISE = "seed_noise_sd"
# The scalesearch version that made the study (0.4 on; CHANGELOG.md says what each holds).
MADE_BY = "scalesearch_version"
PHASE_STUDY_PREFIX, RUN_OF, PHASE_OF_STUDY = "phase_study:", "run", "phase"
# A trial's feasibility, as Optuna 5 records it (`Trial.set_constraint`, feasible when <= 0):
# its counted MACs over the search's budget (MACs / max_macs - 1), and its distance from the
# equal-cost target beyond the tolerance (|MACs / target - 1| - tolerance). Samplers and
# optuna-dashboard then see such a trial as infeasible, not merely pruned.
MACS_BUDGET, COST_TARGET = "macs_over_budget", "cost_off_target"


class Phase(StrEnum):
    """Why a trial was trained: to search coefficients, to measure seed noise (replicates
    of the frontier and of the default coefficients), as a member of the family, as the
    default coefficients' member beside it (the search's pick checked at the family's
    training), as a member of the ablation (one scaling strategy at one φ and seed), or as
    a family member at another training budget (more images seen)."""

    SEARCH = "search"
    REPLICATE = "replicate"
    FAMILY = "family"
    CHECK = "check"
    ABLATION = "ablation"
    BUDGET = "budget"

    @property
    def trains_like_family(self) -> bool:
        """Trained under the space's `family:` settings (a budget's: scaled by its factor),
        so members of any φ compare."""
        return self in (Phase.FAMILY, Phase.CHECK, Phase.ABLATION, Phase.BUDGET)


# Field names whose stored attribute name differs (kept for studies already written).
_STORED_NAMES = {"seconds": "wall_seconds", "version": "scalesearch_version"}


# id(finished FrozenTrial) -> (a weak reference to it, its record); `TrialRecord.from_trial`.
_FINISHED_RECORDS: dict[int, tuple[weakref.ref, TrialRecord]] = {}


@dataclass(frozen=True)
class TrialRecord:
    """A trial's user attributes, typed. Fields left None are not written, so a record can
    carry just the attributes one step adds.

    Attributes:
        phase: why it trained (read as search from a trial that has none).
        phi, gamma: the compound exponent it was built at; γ solved from α and β.
        spec, spec_hash: the architecture as JSON, exactly as trained; its hash.
        params, macs, resolution: counted cost and input size.
        target_macs, cost_ratio: the equal-cost target (base MACs × c^φ) and macs over it.
        effective_alpha, effective_beta, effective_gamma: the coefficients the realised
            spec has (the sampled ones are the trial's parameters).
        version, driver: the scalesearch version and the driver (host:pid) that built it.
        seconds, node_id: the trial slot's wall time, as the driver saw it; the Ray node.
        val_accuracies, val_images: validation accuracy per epoch, and on how many images.
        train_loss_sum, images_per_second, train_seconds: what the proxy measured.
        stop_reason, error: why a trial was PRUNED, or FAILED.
        copied_from: the search trial a family member was copied from (same spec, same seed).
        seed: the training seed (the run's, or a replicate's).
        train_key: hash of (spec, proxy settings, seed): equal keys train identically.
        arch_key: hash of (spec, proxy settings): replicates of one architecture share it.
        duplicate_of, duplicate_study: an earlier trial with the same train_key whose result
            this one took instead of training again, and its study where not this one.
        replicate_of: the trial whose architecture this one trains again with another seed.
        default_coefficients: this trial trains the space's default coefficients.
        strategy: the ablation's scaling strategy (searched, default, depth, width, ...).
        epochs: the epochs it trained for (a family member's may grow with its cost).
        latency_ms, latency_batch_ms, latency_batch, latency_device: inference latency on the
            device that trained it, at batch 1 and `latency_batch` (one device type only).
        precision: what it trained in, "fp32" or "bf16" (a proxy's "auto" resolved).
        activations, attention_maps, layers, kernels: the spec's runtime counts
            (`scalesearch.arch.runtime_counts`), where a search objective needs them.
        replicate_label: the race unit it trains: a search trial's number, or "default".
        warm_start_from: "study@storage#trial" of the earlier study it was enqueued from.
        ablation_source: the search trial whose coefficients an ablation member scales.
        took_slot: it was given a slot to train in (written when asked); a trial told at
            once (a duplicate, pruned before training) was not: rolling asks' lag counts it.
        stopped_by: the rung rule that stopped a trial early ("ASHA", "MOASHA on ...").
        budget_factor: a budget member's images seen over the family's (its epochs × it).
        images_seen: training images stepped through, repeats included: with MACs, its
            training compute (6 · MACs · images).
    """

    phase: Phase | None = None
    phi: float | None = None
    gamma: float | None = None
    spec: str | None = None
    spec_hash: str | None = None
    params: int | None = None
    macs: int | None = None
    resolution: int | None = None
    target_macs: int | None = None
    cost_ratio: float | None = None
    effective_alpha: float | None = None
    effective_beta: float | None = None
    effective_gamma: float | None = None
    version: str | None = None
    driver: str | None = None
    seconds: float | None = None
    node_id: str | None = None
    val_accuracies: list[float] | None = None
    val_images: int | None = None
    train_loss_sum: float | None = None
    images_per_second: float | None = None
    train_seconds: float | None = None
    stop_reason: str | None = None
    error: str | None = None
    copied_from: int | None = None
    seed: int | None = None
    train_key: str | None = None
    arch_key: str | None = None
    duplicate_of: int | None = None
    replicate_of: int | None = None
    default_coefficients: bool | None = None
    strategy: str | None = None
    epochs: int | None = None
    latency_ms: float | None = None
    latency_batch_ms: float | None = None
    latency_batch: int | None = None
    latency_device: str | None = None
    precision: str | None = None
    activations: int | None = None
    attention_maps: int | None = None
    layers: int | None = None
    kernels: int | None = None
    replicate_label: str | None = None
    warm_start_from: str | None = None
    ablation_source: int | None = None
    duplicate_study: str | None = None
    took_slot: bool | None = None
    stopped_by: str | None = None
    budget_factor: float | None = None
    images_seen: int | None = None

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> TrialRecord:
        """Reads what is there; a study written elsewhere may hold none of it."""
        values = {}
        for f in dataclasses.fields(cls):
            key = attr_name(f.name)
            if key in attrs:
                values[f.name] = attrs[key]
        values["phase"] = Phase(values.get("phase", Phase.SEARCH.value))
        return cls(**values)

    @classmethod
    def from_trial(cls, trial: FrozenTrial | Trial) -> TrialRecord:
        """A finished trial's record, or a live one's as written so far.

        A finished trial's attributes never change (storage refuses the write), and Optuna's
        cached storage hands out the same `FrozenTrial` for it on every read, so its record
        is built once per object: the driver and the commands read every trial of a study
        several times a trial, which at thousands of trials was most of their time."""
        if not isinstance(trial, FrozenTrial) or not trial.state.is_finished():
            return cls.from_attrs(trial.user_attrs)
        key = id(trial)
        held = _FINISHED_RECORDS.get(key)
        if held is not None and held[0]() is trial:
            return held[1]
        record = cls.from_attrs(trial.user_attrs)
        gone = weakref.ref(trial, lambda _, k=key: _FINISHED_RECORDS.pop(k, None))
        _FINISHED_RECORDS[key] = (gone, record)
        return record

    def to_attrs(self) -> dict[str, Any]:
        """The set fields under their stored names (the phase as its plain string)."""
        attrs = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                attrs[attr_name(f.name)] = value.value if isinstance(value, Phase) else value
        return attrs

    @property
    def stopped_early(self) -> bool:
        """It was stopped at a rung (0.3's studies say so only in their stop reason)."""
        return self.stopped_by is not None or (self.stop_reason or "").startswith("stopped early")

    def held_by(self, trial: FrozenTrial | Trial) -> bool:
        """Every field set here has the same value on `trial` (a unit's trials carry the
        record they were enqueued with)."""
        attrs = trial.user_attrs
        return all(attrs.get(k) == v for k, v in self.to_attrs().items())

    def write(self, trial: Trial, constraints: dict[str, float] | None = None) -> None:
        """Stores the set fields on a live trial, and its `constraints` where given (what a
        sampler reads as `Trial.set_constraint`'s), in one transaction."""
        from scalesearch.search.store import optuna_private

        optuna_private.set_trial_attrs(trial, self.to_attrs(), constraints)

    def enqueue(self, study: optuna.Study, params: dict[str, Any]) -> None:
        """Queues a trial of `params` that starts with this record (its phase, φ, seed...)."""
        study.enqueue_trial(params, user_attrs=self.to_attrs(), skip_if_exists=False)

    def arch(self) -> ArchSpec:
        """The stored spec, rebuilt exactly."""
        if self.spec is None:
            raise KeyError("the trial has no stored spec")
        return ArchSpec.from_json(self.spec)

    def spec_dict(self) -> dict[str, Any]:
        return json.loads(self.spec) if self.spec else {}


def copied_trial(source: FrozenTrial, record: TrialRecord, costs: Sequence[str]) -> FrozenTrial:
    """A finished trial that repeats `source` (its parameters, accuracy and attributes), with
    `record`'s fields on top: a family member that is its search trial's very training. Its
    values are the accuracy and `costs`, the objectives of the study it goes into, which need
    not be the source study's (the search weighs layers, the family MACs)."""
    return optuna.trial.create_trial(
        params=source.params,
        distributions=source.distributions,
        values=[source.values[0], *(cost_value(source, cost) for cost in costs)],
        user_attrs={**source.user_attrs, **record.to_attrs()},
    )


def finished_trial(
    record: TrialRecord,
    params: dict[str, Any],
    distributions: dict[str, Any],
    values: Sequence[float],
    constraints: dict[str, float] | None = None,
) -> FrozenTrial:
    """A finished trial that carries `record` (and its Optuna 5 constraint values), for
    `Study.add_trials`: how trials that ran elsewhere are written (bench/control_plane.py)."""
    return optuna.trial.create_trial(
        params=params,
        distributions=distributions,
        values=list(values),
        user_attrs=record.to_attrs(),
        constraints=constraints,
    )


def cost_value(trial: FrozenTrial, cost: str) -> float | None:
    """A cost objective of a trial, from what it recorded: "macs", "params", "latency"
    (batch 1, milliseconds) or a runtime count ("activations", "layers", ...). None where it
    was not measured."""
    value = getattr(TrialRecord.from_trial(trial), COSTS[cost].field)
    return None if value is None else float(value)


def attr_name(field_name: str) -> str:
    """The user-attribute key a TrialRecord field is stored under."""
    return _STORED_NAMES.get(field_name, field_name)


def phase_of(trial: FrozenTrial) -> Phase:
    return TrialRecord.from_trial(trial).phase


def enqueued_phase(trial: FrozenTrial | Trial) -> Phase | None:
    """The phase a trial was enqueued with (None for one the sampler suggested): a phase's
    units may train beside another phase's in one executor run (the family's budgets)."""
    return Phase(trial.user_attrs["phase"]) if "phase" in trial.user_attrs else None


def trained(trial: FrozenTrial) -> bool:
    """It trained an architecture itself: not a duplicate (which took a twin's result) nor a
    copy (a family member that is its search trial's training)."""
    record = TrialRecord.from_trial(trial)
    return record.duplicate_of is None and record.copied_from is None


def training_keys(spec_hash: str, proxy_json: str, seed: int) -> tuple[str, str]:
    """(train_key, arch_key): what makes two trainings identical, and two replicates kin."""
    arch = hashlib.sha256(f"{spec_hash}|{proxy_json}".encode()).hexdigest()[:16]
    return hashlib.sha256(f"{arch}|{seed}".encode()).hexdigest()[:16], arch


def taken(trials: list[FrozenTrial]) -> bool:
    """A unit of work (a replicate, a family or ablation member) needs no new trial: one of
    its trials finished or is running. Failed ones are retried."""
    return any(finished(t) or t.state == TrialState.RUNNING for t in trials)


def claim_key(unit: str, trials: list[FrozenTrial]) -> str:
    """The claim key of a unit's next try: the unit and how many of its tries failed.

    Only failures count: a trial another driver claimed and enqueued but has not yet asked
    is WAITING, neither taken nor failed, so a driver that reads it then asks for the same
    key and is refused, instead of claiming a second try of a unit that is about to train.
    """
    return f"{unit}:{sum(t.state == TrialState.FAIL for t in trials)}"


def claim_next_try(url: str, study: str, unit: str, trials: list[FrozenTrial], owner: str) -> bool:
    """Takes the next try of a unit of work (a replicate, a family or ablation member) for
    `owner`: False when one of its `trials` finished or runs, or another driver holds the
    try's claim already (`sql_tables.claim`)."""
    return not taken(trials) and sql_tables.claim(url, study, claim_key(unit, trials), owner)


def finished(trial: FrozenTrial) -> bool:
    """Counts toward the budget: complete, or pruned (early-stopped or over the MACs budget).
    A FAIL does not: an interrupted or crashed trial is retried by a resumed search."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
