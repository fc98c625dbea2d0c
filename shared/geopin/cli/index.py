"""``geopin index``: load reference photos, rebuild the index, list and prune its versions."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import elasticsearch
from tqdm import tqdm

from geopin.cli.common import ensure_model, load_settings
from geopin.index import IndexOutdated, IndexProblem, ModelMismatch
from geopin.ingest import read_source
from geopin.ingest.distributed import Ledger, dispatch
from geopin.ingest.outcomes import Summary, first_of_each_id
from geopin.ingest.run import Ingestion, Options
from geopin.ingest.sources import SourceError, SourceKind
from geopin.model.files import ModelNotFound
from geopin.queue import EMBED_QUEUE, make_celery
from geopin.wiring import (
    NeedsRedis,
    index_versions,
    redis_client,
    require_redis,
    vector_index,
)

if TYPE_CHECKING:
    from geopin.index import VectorIndex
    from geopin.ingest.outcomes import Outcome
    from geopin.ingest.sources import Candidate
    from geopin.model.embedder import Embedder
    from geopin.settings import Settings

STALL_S = 600  # a distributed run whose progress stops this long is given up


def _source_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options ``add`` and ``rebuild`` share: where photos come from and how they load."""
    decorators = [
        click.argument("source", type=click.Path(exists=True, path_type=Path)),
        click.option(
            "--format",
            "kind",
            type=click.Choice([k.value for k in SourceKind]),
            help="Kind of SOURCE. Default: from its suffix, or from its photos' names.",
        ),
        click.option(
            "--report",
            type=click.Path(dir_okay=False, path_type=Path),
            default=Path("ingest-report.jsonl"),
            show_default=True,
            help="JSONL list of every refused photo and why.",
        ),
        click.option("--no-quality", is_flag=True, help="Skip quality control."),
        click.option("--no-dedup", is_flag=True, help="Keep near-duplicates."),
        click.option(
            "--replace",
            is_flag=True,
            help="A photo under an ID the index holds for another photo replaces that one "
            "(default: it is refused as id-taken).",
        ),
        click.option("--force-merge", is_flag=True, help="Merge to one segment afterwards."),
        click.option("--distributed", is_flag=True, help="Embed on the Celery embedding workers."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


@click.group()
def index() -> None:
    """Manage the reference index."""


@index.command("add")
@_source_options
def index_add(source: Path, kind: str | None, **load: Any) -> None:
    """Embed and index the photos of SOURCE: a CSV or JSONL manifest, a folder of photos
    with EXIF GPS tags, or a VPR-format folder. An ID names one photo: a photo already
    indexed under its ID is skipped, one under an ID held by another photo is refused
    (or replaces it, with --replace)."""

    settings = load_settings()
    candidates = _candidates(source, kind)
    embedder = _embedder(settings)
    target = vector_index(settings)
    with _index_errors():
        try:
            target.ensure(embedder.info.dim, embedder.info.model_id)
        except ModelMismatch as exc:
            raise click.ClickException(f"{exc} (`geopin index rebuild SOURCE`)") from exc
        _load(settings, target, candidates, embedder, **load)
    click.echo(f"index {settings.elasticsearch.index} now holds {target.count()} photo(s)")


@index.command("rebuild")
@_source_options
def index_rebuild(source: Path, kind: str | None, **load: Any) -> None:
    """Build a new index version from SOURCE with the current model, then swap the alias to
    it atomically; searches use the old version until then. The old one is kept
    (`geopin index prune` deletes it). A rebuild that stopped half-way is resumed."""

    settings = load_settings()
    candidates = _candidates(source, kind)
    embedder = _embedder(settings)
    info = embedder.info
    versions = index_versions(settings)
    with _index_errors():
        unfinished = [
            v.name for v in versions.versions() if not v.live and v.model_id == info.model_id
        ]
        name = unfinished[-1] if unfinished else versions.create(info.dim, info.model_id)
        target = versions.open(name)
        try:
            target.ensure(info.dim, info.model_id)
        except IndexOutdated:  # an unfinished rebuild from before IDs were keys: start anew
            name, unfinished = versions.create(info.dim, info.model_id), []
            target = versions.open(name)
        click.echo(f"{'resuming' if unfinished else 'building'} {name}")
        _load(settings, target, candidates, embedder, **load)
        previous = versions.swap(name)
    click.echo(f"alias {settings.elasticsearch.index} now points at {name} ({target.count()})")
    if previous:
        click.echo(f"{previous} is kept: `geopin index prune` deletes it")


@index.command("list")
def index_list() -> None:
    """Every version of the index; * marks the one searches use."""

    settings = load_settings()
    with _index_errors():
        versions = index_versions(settings).versions()
    if not versions:
        click.echo(f"no versions of {settings.elasticsearch.index}")
    for v in versions:
        click.echo(
            f"{'*' if v.live else ' '} {v.name}  model {v.model_id[:12]}  D={v.dim}  "
            f"{v.count} photo(s)  created {v.created_at}"
        )


@index.command("prune")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def index_prune(yes: bool) -> None:
    """Delete every version of the index that searches do not use."""

    settings = load_settings()
    versions = index_versions(settings)
    with _index_errors():
        doomed = [v.name for v in versions.versions() if not v.live]
        if not doomed:
            click.echo("nothing to prune")
            return
        if not yes:
            click.confirm(f"delete {', '.join(doomed)}?", abort=True)
        deleted = versions.prune()
    click.echo(f"deleted {', '.join(deleted)}")


def _candidates(source: Path, kind: str | None) -> list[Candidate]:

    try:
        return read_source(source, SourceKind(kind) if kind else None)
    except SourceError as exc:
        for problem in exc.problems:
            click.echo(f"{source}: {problem}", err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s); nothing was indexed") from exc


def _embedder(settings: Settings) -> Embedder:
    from geopin.model.embedder import Embedder  # onnxruntime: the [embedder] extra

    ensure_model(settings)
    embedder = Embedder(settings.model, settings.images)
    try:
        embedder.info  # noqa: B018  # loads the model now: a missing one is a one-line error
    except ModelNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    return embedder


@contextmanager
def _index_errors() -> Iterator[None]:
    """Elasticsearch problems as one line, not a traceback."""

    try:
        yield
    except IndexProblem as exc:
        raise click.ClickException(str(exc)) from exc
    except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
        raise click.ClickException(f"Elasticsearch: {exc}") from exc


def _load(
    settings: Settings,
    target: VectorIndex,
    candidates: Sequence[Candidate],
    embedder: Embedder,
    *,
    report: Path,
    no_quality: bool,
    no_dedup: bool,
    replace: bool,
    force_merge: bool,
    distributed: bool,
) -> None:
    """Load with refresh off, writing the report and a progress bar; prints the summary."""

    options = Options(quality=not no_quality, dedup=not no_dedup, replace=replace)
    summary = Summary()
    with (
        report.open("w", encoding="utf-8") as out,
        tqdm(total=len(candidates), unit="photo", desc="indexing") as bar,
        target.bulk_load(force_merge),
    ):
        if distributed:
            summary.counts = _run_distributed(
                settings, target.target, candidates, options, out, bar
            )
        else:

            def record(outcome: Outcome) -> None:
                if outcome.refused:
                    out.write(json.dumps(outcome.record()) + "\n")
                bar.update(1)

            model_id = embedder.info.model_id
            ingestion = Ingestion(settings, embedder, target, model_id, record, options)
            summary = ingestion.run(candidates)
    _echo_summary(summary.public(), report)


def _run_distributed(
    settings: Settings,
    target: str,
    candidates: Sequence[Candidate],
    options: Options,
    out: IO[str],
    bar: tqdm,
) -> Counter[str]:

    try:
        require_redis(settings, "--distributed")  # its ledger is in Redis
    except NeedsRedis as exc:
        raise click.ClickException(str(exc)) from exc
    app = make_celery(settings)
    unique, repeats = first_of_each_id(candidates)  # so that no two tasks write one ID
    run_id = dispatch(app, target, unique, settings.ingest.task_size, options, EMBED_QUEUE)
    ledger = Ledger(redis_client(settings), settings.redis.key_prefix, run_id)
    for outcome in repeats:
        ledger.record(outcome)
    done, last_change = 0, time.monotonic()
    while done < len(candidates):
        time.sleep(0.5)
        now_done = ledger.done()
        if now_done != done:
            bar.update(now_done - done)
            done, last_change = now_done, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            raise click.ClickException(
                f"no progress for {STALL_S} s with {len(candidates) - done} photo(s) left: "
                f"are embedding workers running? (run {run_id})"
            )
    for record in ledger.refused():
        out.write(json.dumps(record) + "\n")
    return ledger.counts()


def _echo_summary(summary: dict[str, Any], report: Path) -> None:
    replaced = f" ({summary['replaced']} in place of another photo)" if summary["replaced"] else ""
    click.echo(
        f"indexed {summary['indexed']} photo(s){replaced}, "
        f"{summary['already_indexed']} already indexed, {summary['refused']} refused"
    )
    if summary["refused"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["refused_by_reason"].items())
        click.echo(f"refused: {reasons} (listed in {report})")
