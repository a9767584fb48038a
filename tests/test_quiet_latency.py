"""Latency timed when a phase has ended: every architecture once, interleaved, with its
repeatability; a busy node times nothing and says why."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest

from scalesearch.arch.latency import Timed, pass_agreement, time_interleaved
from scalesearch.arch.model import HybridNet
from scalesearch.arch.presets import get_preset
from scalesearch.arch.scaling import scale_spec
from scalesearch.report.board import publish
from scalesearch.report.data import build_report
from scalesearch.search.results.latencies import run_latencies
from scalesearch.search.run import quiet_latency
from scalesearch.search.run.quiet_latency import node_busy_share, time_quietly
from scalesearch.search.store import optuna_private
from scalesearch.search.store.schema import TrialRecord
from tests.test_driver import COMPLETE, make_driver


def _trained(driver, trials: list[dict]) -> None:
    """Trials of the given coefficients, asked and completed as a slot would."""
    for n, params in enumerate(trials):
        driver.run.search.enqueue_trial(params)
        driver.suggest(f"t{n}", driver.run.search.ask)
        driver.on_complete(f"t{n}", COMPLETE.to_report(), crashed=False)


def _tiny(alpha: float) -> HybridNet:
    """cmt-ti at a quarter width and 32 px, its depth × `alpha`."""
    spec = scale_spec(get_preset("cmt-ti"), alpha, 0.25, 0.2, 1.0)
    return HybridNet(spec.replace(num_classes=10))


def test_interleaved_passes_give_medians_and_their_agreement() -> None:
    models = {"shallow": (_tiny(0.25), 32), "deep": (_tiny(2.0), 32)}
    timed = time_interleaved(models, batch=4, passes=3, min_seconds=0.02)
    for t in timed.values():
        assert len(t.passes_ms) == 3 and t.ms_batch1 == sorted(t.passes_ms)[1]
        assert t.batch == 4 and t.ms_batch > 0 and t.spread >= 0
    assert timed["deep"].ms_batch1 > timed["shallow"].ms_batch1
    assert -1 <= pass_agreement(timed) <= 1


def test_pass_agreement_is_the_worst_pair_of_passes() -> None:
    alike = {k: Timed(ms, ms, 8, (ms, ms * 1.1, ms * 0.9)) for k, ms in zip("abc", (1, 2, 3))}
    assert pass_agreement(alike) == pytest.approx(1.0)
    swapped = dict(alike, c=Timed(3, 3, 8, (3, 3.3, 0.5)))  # the third pass ranks c first
    assert pass_agreement(swapped) == pytest.approx(-1 / 3)
    assert math.isnan(pass_agreement({"a": alike["a"]}))


def test_a_phase_s_architectures_are_timed_once_with_their_repeatability(tmp_path) -> None:
    logged: list[str] = []
    with make_driver(tmp_path, trials=4) as driver:
        _trained(driver, [{"alpha": 1.1, "beta": 1.4}, {"alpha": 1.5, "beta": 1.1}])
        search = driver.config.space.search
        quiet = dataclasses.replace(search, latency_passes=3, latency_quiet_cpu=1.0)
        assert time_quietly(driver.run, quiet, logged.append) == 2
        assert time_quietly(driver.run, quiet, logged.append) == 0  # timed once per run
        latency = run_latencies(driver.run.url, driver.run.name)
        hashes = {TrialRecord.from_trial(t).spec_hash for t in driver.run.search.trials}
        assert set(latency.timed) == hashes and not latency.unmeasured
        assert all(len(t.passes_ms) == 3 for t in latency.timed.values())
        assert set(latency.layers) == hashes
        assert "threads" in latency.devices[0]
    (line,) = logged
    assert "2 new architectures timed" in line and "pass-to-pass τ" in line
    assert "τ(layers, latency)" in line
    report = build_report(driver.run.url, driver.run.name)
    glance = dict(_glance(report))
    assert glance["latency"].startswith("2 architectures timed with nothing else training, on")
    assert all(p.latency_ms == latency.ms(p.spec_hash) for p in report.search_points)
    # `frontier` shows its points' quiet timings, with the device and the passes' agreement.
    listed = _frontier(driver.run, ["--json"])
    assert listed["search"] and all(
        p["quiet_latency_ms"] == latency.timed[p["spec_hash"]].ms_batch1 for p in listed["search"]
    )
    summary = listed["latency"]
    assert (summary["timed"], summary["unmeasured"], summary["devices"]) == (2, 0, latency.devices)
    assert summary["pass_tau"] == pytest.approx(latency.pass_tau)
    shown = " ".join(_frontier(driver.run, []).split())
    assert "Latency of the frontier points (nothing else training)" in shown
    assert latency.words() in shown


def test_a_busy_node_leaves_latency_unmeasured_and_says_why(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(quiet_latency, "QUIET_PATIENCE_S", 2.0)  # it stays busy: wait less
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        with make_driver(tmp_path, trials=2) as driver:
            _trained(driver, [{"alpha": 1.1, "beta": 1.4}])
            assert node_busy_share() > 0.25
            logged: list[str] = []
            timed = dataclasses.replace(driver.config.space.search, latency_passes=3)
            assert time_quietly(driver.run, timed, logged.append) == 1
    finally:
        for spinner in spinners:
            spinner.kill()
    latency = run_latencies(driver.run.url, driver.run.name)
    assert not latency.timed and len(latency.unmeasured) == 1
    assert "left unmeasured: the node was busy" in logged[0]
    assert latency.words().startswith("latency: unmeasured (the node was busy: ")
    report = build_report(driver.run.url, driver.run.name)
    assert all(p.latency_ms is None for p in report.search_points)
    publish(driver.run, report)
    (trial,) = driver.run.search.trials
    assert "**Latency**: latency unmeasured: the node was busy" in _note(driver.run.search, trial)
    listed = _frontier(driver.run, ["--json"])
    assert [p["quiet_latency_ms"] for p in listed["search"]] == [None]
    assert listed["latency"]["words"].startswith("latency: unmeasured (the node was busy: ")
    shown = " ".join(_frontier(driver.run, []).split())
    assert (
        "Latency of the frontier points" not in shown and "latency: unmeasured (the node" in shown
    )


def _frontier(run, flags: list[str]):
    """What `scalesearch frontier` prints for the run (parsed, with --json)."""
    import contextlib
    import io
    import json

    from scalesearch.cli.main import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["frontier", "--storage", run.url, "--study", run.name, *flags]) == 0
    return json.loads(printed.getvalue()) if flags else printed.getvalue()


def _glance(report):
    from scalesearch.report.words import at_a_glance

    return at_a_glance(report)


def _note(study, trial) -> str:
    import optuna_dashboard

    return optuna_dashboard.get_note(optuna_private.live_trial(study, trial))
