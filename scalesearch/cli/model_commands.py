"""Commands about models and spaces: describe, scale, proxy, spaces, presets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from scalesearch.arch.spec import ArchSpec
from scalesearch.cli.app import app
from scalesearch.cli.common import (
    AlphaOption,
    BetaOption,
    GammaOption,
    JsonOption,
    MorePhiArgument,
    PhiListOption,
    PhiOption,
    check_positive,
    console,
    err_console,
    phi_values,
)


@app.command()
def describe(
    model: Annotated[str, typer.Argument(help="A preset (cvt-13, cmt-s, ...) or a search space.")],
    phi: PhiOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    resolution: Annotated[Optional[int], typer.Option(help="Build for this input size.")] = None,
    num_classes: Annotated[Optional[int], typer.Option(help="Number of classes.")] = None,
    weights: Annotated[
        Optional[Path],
        typer.Option(help="Load this checkpoint (official CMT/CvT, Hugging Face CvT, ours)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a model's stages, parameters and MACs (counted, not estimated)."""
    from scalesearch.arch.model import build_model, spec_with_overrides
    from scalesearch.cli.describe import describe_spec, member_cost
    from scalesearch.cli.resolve import member_from_argument
    from scalesearch.cli.views import render_description

    check_positive(resolution=resolution, num_classes=num_classes)
    found = member_from_argument(model, phi, alpha, beta, gamma)
    spec = found if isinstance(found, ArchSpec) else found.spec
    spec = spec_with_overrides(spec, num_classes, resolution)
    if weights is not None:
        from scalesearch.arch.checkpoints import detect_layout, read_state_dict

        spec = build_model(spec, weights=weights).spec  # as the checkpoint's model was built
        layout = detect_layout(read_state_dict(weights), str(weights))
    desc = describe_spec(spec)
    if weights is not None:
        desc["weights"] = {"path": str(weights), "layout": layout}
    if not isinstance(found, ArchSpec) and resolution is None:
        desc.update(member_cost(found))  # the space's equal-cost promise, kept or not
    if as_json:
        print(json.dumps(desc, indent=2))
    else:
        render_description(desc, console)
        if weights is not None:
            console.print(f"weights: {weights} ({layout} layout), every key loaded", markup=False)


# Unknown "options" pass through as arguments, so `--phi -2 -1 0` reads -1 as a φ value.
@app.command(context_settings={"ignore_unknown_options": True})
def scale(
    space: Annotated[str, typer.Option(help="Search space name or YAML path.")],
    phi: PhiListOption = None,
    more_phi: MorePhiArgument = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a space's family: one member per φ with params, MACs and growth."""
    from scalesearch.cli.describe import describe_family
    from scalesearch.cli.resolve import coefficients_for
    from scalesearch.cli.views import render_family
    from scalesearch.search.space import load_space

    loaded = load_space(space)
    coefficients = coefficients_for(loaded, alpha, beta, gamma)
    loaded.scaling.constraint.check(coefficients.alpha, coefficients.beta, coefficients.gamma)
    phis = phi_values(phi, more_phi, "scale") or list(loaded.family_phi)
    rows = describe_family(loaded, phis, coefficients)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        render_family(loaded, rows, console)


@app.command()
def proxy(
    model: Annotated[str, typer.Argument(help="A preset or a search space (with --phi ...).")],
    phi: PhiOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    dataset: Annotated[Optional[str], typer.Option(help="mnist, digits, cifar10, ...")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of on-disk datasets.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs.")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Build and train at this size.")] = None,
    subset: Annotated[Optional[float], typer.Option(help="Fraction of train used.")] = None,
    max_train_images: Annotated[Optional[int], typer.Option(help="Cap on train images.")] = None,
    threads: Annotated[int, typer.Option(help="Torch CPU threads.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of data split, init and order.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train one model with the proxy schedule and print its validation accuracy."""
    from scalesearch.arch.model import spec_with_overrides
    from scalesearch.cli.resolve import proxy_config_for, spec_from_argument
    from scalesearch.cli.views import epoch_progress
    from scalesearch.stats import format_accuracy
    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy

    check_positive(resolution=resolution)
    spec = spec_with_overrides(
        spec_from_argument(model, phi, alpha, beta, gamma), resolution=resolution
    )
    overrides = {
        "dataset": dataset,
        "epochs": epochs,
        "subset": subset,
        "max_train_images": max_train_images,
    }
    config = dataclasses.replace(
        proxy_config_for(model),
        threads=threads,
        seed=seed,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    data = load_dataset(config.dataset, data_dir, resolution=spec.resolution, seed=seed)
    with epoch_progress(config.epochs, spec.name, err_console if as_json else console) as on_epoch:
        result = train_proxy(spec, data, config, on_epoch=on_epoch)
    summary = {
        "name": spec.name,
        "dataset": config.dataset,
        **result.to_dict(),
        "spec_hash": spec.replace(num_classes=data.num_classes).spec_hash(),
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    console.print(
        f"{spec.name} on {config.dataset}: val accuracy "
        f"{format_accuracy(result.val_accuracy, result.val_accuracy_se)} (n={result.val_images:,}) "
        f"({result.status}), {result.params:,} params, {result.macs / 1e6:,.1f} MMACs, "
        f"{result.images_per_second:,.0f} train img/s, {result.seconds:.1f} s"
        + (f" — {result.reason}" if result.reason else "")
    )


@app.command()
def spaces() -> None:
    """List the search spaces under search_spaces/."""
    from scalesearch.search.space import list_spaces, load_space

    for name in list_spaces():
        print(f"{name:18s} {load_space(name).description}")


@app.command()
def presets() -> None:
    """List the published models that are built in."""
    from scalesearch.arch.presets import PRESETS

    for name, spec in PRESETS.items():
        print(f"{name:10s} {len(spec.stages)} stages, input {spec.resolution}")
