"""What optuna-dashboard shows of a run: notes, the answer's figures, models as artifacts.

The only module that imports optuna_dashboard. `publish` writes, on the run's studies, a
Markdown note per trained trial (the architecture in words, the training it was measured
under, its accuracy ± se over its seeds, its costs, the command that exports it) and a note
per study (the run's answer in words, the commands that reproduce it), and saves the report's
figures that answer the question (refreshed in place: fixed ids). `upload_export` and
`upload_report` put files in Optuna's artifact store, which `serve` hands to the dashboard:
beside an SQLite study by default (`artifacts/` next to the file), a folder given with
--artifacts or $SCALESEARCH_ARTIFACTS for a shared database. Nothing here holds a password.
"""

from __future__ import annotations

import json
import mimetypes
import os
import socket
import threading
import uuid
from pathlib import Path
from wsgiref.simple_server import WSGIServer, make_server

import optuna
import optuna_dashboard
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from scalesearch.arch.spec import ArchSpec
from scalesearch.commands import code_block, command, markdown_text, reproduce
from scalesearch.formatting import human, milliseconds
from scalesearch.report.data import ReportData
from scalesearch.report.figures import (
    ablation_figure,
    compute_figure,
    family_figure,
    law_figure,
    search_figure,
)
from scalesearch.report.words import at_a_glance, verdict_lines
from scalesearch.search.results.arch_groups import arch_groups, seed_noise
from scalesearch.search.results.latencies import RunLatencies
from scalesearch.search.store import optuna_private, run_attributes
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import BUDGET_KEY, RunStudies
from scalesearch.stats import binomial_se, format_accuracy

ARTIFACTS_ENV = "SCALESEARCH_ARTIFACTS"
TRIAL_ARTIFACTS = "dashboard:artifacts:"  # + "<trial id>:<artifact id>" in a study's attributes
FIGURES = {
    "family-frontier": family_figure,
    "search-frontier": search_figure,
    "ablation": ablation_figure,
    "scaling-law": law_figure,
    "training-compute": compute_figure,
}


def artifact_folder(url: str, given: str | None = None) -> Path | None:
    """Where artifacts live: `given`, $SCALESEARCH_ARTIFACTS, or `artifacts/` beside an
    SQLite file (None for a database without a folder of its own: give one)."""
    if given or os.environ.get(ARTIFACTS_ENV):
        return Path(given or os.environ[ARTIFACTS_ENV])
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).resolve().parent / "artifacts"
    return None


def serve(url: str, host: str, port: int, artifacts: Path | None) -> None:
    """optuna-dashboard on the storage, with the artifact store where there is one, until
    Ctrl-C or SIGTERM, which it raises. The server loop runs in a thread and the main thread
    only waits, so a signal lands in the wait: wsgiref's request handler catches every
    exception of a request, an interrupt included, so a signal that arrived while a request
    was being answered (`run_server`'s loop) was swallowed and the server served on."""
    store = None if artifacts is None else FileSystemArtifactStore(_made(artifacts))
    server_class = _IPv6Server if ":" in host else WSGIServer
    server = make_server(host, port, optuna_dashboard.wsgi(url, artifact_store=store), server_class)
    loop = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    loop.start()
    try:
        while loop.is_alive():
            loop.join(0.5)
    finally:
        server.shutdown()
        server.server_close()


class _IPv6Server(WSGIServer):
    address_family = socket.AF_INET6


def publish_run(run: RunStudies, data: ReportData, page: Path | None, artifacts: str | None) -> str:
    """Everything the dashboard shows of a run, refreshed: notes, figures and (where there
    is an artifact store) the report page; returns what was done, in words."""
    notes = publish(run, data)
    folder = artifact_folder(run.url, artifacts)
    if page is not None and folder is not None:
        upload_report(run, page, folder)
    where = f"; the report is an artifact in {folder}" if page and folder else ""
    return f"dashboard: notes on {notes} trials and the run's studies, the answer's figures{where}"


def publish(run: RunStudies, data: ReportData) -> int:
    """Notes on the run's studies and trained trials, and the answer's figures; returns how
    many trial notes were written."""
    home = _study_note(data)
    optuna_dashboard.save_note(run.search, home)
    phase_studies = [s for s in run.studies() if s is not run.search]
    for study in phase_studies:
        optuna_dashboard.save_note(study, f"Part of run **{markdown_text(run.name)}**.\n\n{home}")
    for graph_id, make in FIGURES.items():
        figure = make(data)
        if figure is not None:
            optuna_dashboard.save_plotly_graph_object(run.search, figure, graph_object_id=graph_id)
    # Each phase study shows the figure its trials answer: the family's frontier beside the
    # family, accuracy against training compute beside each budget.
    keys = {name: key for key, name in run_attributes.phase_studies(run.search).items()}
    for study in phase_studies:
        key = keys.get(study.study_name, "")
        graph_id = "training-compute" if key.startswith(BUDGET_KEY) else None
        graph_id = "family-frontier" if key == Phase.FAMILY.value else graph_id
        if graph_id is not None and (figure := FIGURES[graph_id](data)) is not None:
            optuna_dashboard.save_plotly_graph_object(study, figure, graph_object_id=graph_id)
    flag = data.summary.storage_flag
    return sum(_trial_notes(run, study, flag, data.latency) for study in run.studies())


def upload_export(
    run: RunStudies, study_name: str, trial: FrozenTrial, folder: Path, into: Path
) -> int:
    """Every file of an exported folder as an artifact of its trial; returns how many.

    The trial finished long ago, and Optuna's `upload_artifact` writes a trial's artifacts
    into the trial, which storage refuses once it is finished. optuna-dashboard also lists a
    trial's artifacts from its study's attributes (`dashboard:artifacts:<trial id>:<id>`,
    its format for exactly this), so they are recorded there.
    """
    study = next(s for s in run.studies() if s.study_name == study_name)
    store = FileSystemArtifactStore(_made(into))
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for path in files:
        artifact_id = str(uuid.uuid4())
        with path.open("rb") as f:
            store.write(artifact_id, f)
        mimetype, encoding = mimetypes.guess_type(path.name)
        meta = {
            "artifact_id": artifact_id,
            "filename": path.name,
            "mimetype": mimetype or "application/octet-stream",
            "encoding": encoding,
        }
        key = f"{TRIAL_ARTIFACTS}{optuna_private.trial_id(trial)}:{artifact_id}"
        optuna_private.set_study_system_attr(study, key, json.dumps(meta))
    return len(files)


def upload_report(run: RunStudies, page: Path, into: Path) -> None:
    """The report page as an artifact of the run's search study."""
    store = FileSystemArtifactStore(_made(into))
    upload_artifact(
        artifact_store=store, file_path=str(page), study_or_trial=run.search, mimetype="text/html"
    )


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _study_note(data: ReportData) -> str:
    """The run's answer and its commands, in Markdown where every name is text."""
    s = data.summary
    glance = "\n".join(
        f"- **{label}**: {markdown_text(words)}" for label, words in at_a_glance(data)
    )
    verdict = "\n".join(f"- {markdown_text(line)}" for line in verdict_lines(data))
    secret = (
        "\n\n`SCALESEARCH_STORAGE` holds the storage URL (it has a password, not shown here)."
        if "$SCALESEARCH_STORAGE" in s.storage_flag
        else ""
    )
    commands = reproduce(s.study, s.space, s.storage_flag, len(data.family_frontier))
    return f"""## scalesearch run {markdown_text(s.study)} (space {markdown_text(s.space)})

{glance}

### Verdict

{verdict}

### Reproduce{secret}

{code_block(commands)}
"""


def _trial_notes(run: RunStudies, study: optuna.Study, flag: str, latency: RunLatencies) -> int:
    trainings = _trainings(run)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    phases = {TrialRecord.from_trial(t).phase for t in trials}
    groups = [g for phase in phases for g in arch_groups(run.trials(phase), study.study_name)]
    noise = {phase: seed_noise([g for g in groups if g.phase == phase]) for phase in phases}
    group_of: dict[int, object] = {}
    for g in groups:
        for n in g.trials:
            group_of.setdefault(n, g)
    notes = {}
    for trial in trials:
        record = TrialRecord.from_trial(trial)
        if record.spec is None:
            continue
        group = group_of.get(trial.number)
        training = trainings[record.phase.trains_like_family]
        notes[optuna_private.trial_id(trial)] = trial_note(
            trial, record, group, noise.get(record.phase), training, study.study_name, flag
        ) + _latency_line(record, latency)
    save_notes(study, notes)
    return len(notes)


def save_notes(study: optuna.Study, notes: dict[int, str]) -> int:
    """The trials' notes (by trial id) where they differ from those stored, in
    optuna-dashboard's format (checked by `optuna_dashboard.get_note` in the tests); returns
    how many were written.

    `optuna_dashboard.save_note` reads every attribute of the study twice per note, which is
    quadratic over a study (a 2,000-trial report did not finish in 10 minutes); here they
    are read once, a note already there is not written again (a report refreshed on a grown
    study writes only what changed), and what changed is written in one transaction.
    """
    from optuna_dashboard._note import (
        get_note_from_system_attrs,
        note_str_key_prefix,
        note_ver_key,
        split_body,
    )

    stored = optuna_private.study_system_attrs(study)
    chunks_of: dict[str, dict] = {}  # each note's chunks by key prefix: one pass, not one a note
    for key, value in stored.items():
        if ":note_str:" in key:
            chunks_of.setdefault(key[: key.rindex(":") + 1], {})[key] = value
    changed: dict = {}
    written = 0
    for trial_id, body in notes.items():
        prefix, version = note_str_key_prefix(trial_id), note_ver_key(trial_id)
        own = {
            **chunks_of.get(prefix, {}),
            **({version: stored[version]} if version in stored else {}),
        }
        before = get_note_from_system_attrs(own, trial_id)
        if before["body"] == body:
            continue
        chunks = split_body(body, trial_id)
        stale = len(chunks_of.get(prefix, {}))
        chunks.update({f"{prefix}{i}": "" for i in range(len(chunks), stale)})
        changed.update({version: before["version"] + 1, **chunks})
        written += 1
    optuna_private.set_study_system_attrs(study, changed)  # one transaction
    return written


def trial_note(
    trial, record: TrialRecord, group, noise, training: str, study: str, flag: str
) -> str:
    """A trained trial in words: architecture, fidelity, accuracy, costs, export command."""
    spec = record.arch()
    accuracy = trial.values[0]
    one = format_accuracy(accuracy, binomial_se(accuracy, record.val_images))
    if group is not None and len(group.accuracies) > 1:
        over = f"{format_accuracy(group.mean, group.se(noise))} over its architecture's {len(group.accuracies)} seeds"
    else:
        over = "1 seed (binomial se)"
    costs = [f"{human(record.macs or 0, 'MACs')}", f"{human(record.params or 0, 'params')}"]
    if record.layers is not None:
        costs.append(
            f"{record.layers} sequential layers, {human(record.activations or 0)} activations"
        )
    return f"""## Trial {trial.number}: {record.phase.value}, φ {record.phi:g}, seed {record.seed}

**Architecture**: {architecture_words(spec)}

**Trained under**: {training}, {record.epochs} epoch(s), {record.precision or "fp32"}

**Accuracy**: {one} on {record.val_images or "?"} validation images; {over}

**Cost**: {", ".join(costs)}

**Export**:

{code_block([command("export", "--study", study, "--trial", trial.number, "-o", "models", storage_flag=flag)])}
"""


def _latency_line(record: TrialRecord, latency: RunLatencies) -> str:
    """The architecture's quiet latency, and the slot's where a latency objective took one."""
    quiet = latency.about(record.spec_hash)
    text = "" if quiet is None else f"\n**Latency**: {quiet}\n"
    if record.latency_ms is not None:
        text += (
            f"\n**Latency objective**: {milliseconds(record.latency_ms)} at batch 1 on "
            f"{record.latency_device}, timed in its slot beside other trainings\n"
        )
    return text


def architecture_words(spec: ArchSpec) -> str:
    """ "input 56 px; stem 16 ch; 40 ch × 3 blocks (1 head, lpu, light/2, irffn×2), ...; head conv_pool"."""
    stages = []
    for stage in spec.stages:
        b = stage.block
        parts = [p for p in (b.local_perception if b.local_perception != "none" else None,
                             {"conv": f"conv projection/{b.kv_stride}", "light": f"light/{b.kv_reduction}"}.get(b.attention, "attention"),
                             f"{b.ffn}×{b.mlp_ratio:g}") if p]  # fmt: skip
        heads = f"{stage.num_heads} head{'s' if stage.num_heads > 1 else ''}"
        stages.append(f"{stage.dim} ch × {stage.depth} blocks ({heads}, {', '.join(parts)})")
    stem = f"stem {spec.stem.out_chs} ch; " if spec.stem is not None else ""
    return f"input {spec.resolution} px; {stem}{'; '.join(stages)}; head {spec.head.kind}"


def _trainings(run: RunStudies) -> dict[bool, str]:
    """How the search's trials train (False) and the family's and ablation's (True)."""
    space = run_attributes.stored_space(run.search)
    if space is None:
        return {False: "the search's proxy training", True: "the family's training"}
    proxy = run_attributes.stored_run_proxy(run.search) or space.proxy
    family = space.family
    images = family.max_train_images or proxy.max_train_images
    batch = family.batch_size or proxy.batch_size
    validated = f"validated on {proxy.val_images:,} images" if proxy.val_images else "validated"
    return {
        False: f"the search's proxy training ({proxy.dataset}, {proxy.max_train_images or 'all'} "
        f"images, batch {proxy.batch_size}, {validated})",
        True: f"the family's training ({proxy.dataset}, {images or 'all'} images, batch {batch}, "
        f"{validated})",
    }
