"""``geopin eval``: recall@N of the model, or of the running service, on a VPR dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from tqdm import tqdm

from geopin.cli.common import load_settings
from geopin.cli.index import _embedder, _index_errors
from geopin.client import ApiError, GeoPinClient
from geopin.wiring import vector_index

if TYPE_CHECKING:
    from geopin_tools.evaluation.recall import Ranking, VprDataset

    from geopin.model.embedder import Embedder
    from geopin.settings import Settings


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--url",
    help="Evaluate the running service at URL: index the database into its index "
    "(GEOPIN_ELASTICSEARCH__*), submit every query as a job. Default: in-process, exact kNN.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for results.json and recall.png. Default: eval-<dataset>.",
)
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for a job.")
def evaluate(dataset: Path, url: str | None, output: Path | None, timeout: float) -> None:
    """Recall@1/5/10/20 at 25 m on DATASET (images/test/database and queries), and how often
    the top-1 and consensus estimates fall within 25 m, 100 m and 1 km."""
    from geopin_tools.evaluation.plot import plot_recall  # toolchain: the [tools] extra
    from geopin_tools.evaluation.recall import EvaluationError, load_dataset, score

    settings = load_settings()
    try:
        data = load_dataset(dataset)
        embedder = _embedder(settings)
        if url is None:
            mode = "in-process, exact kNN"
            with tqdm(total=len(data.database) + len(data.queries), unit="photo") as bar:
                from geopin_tools.evaluation.run import rank_in_process

                rankings = rank_in_process(data, embedder, settings, bar.update)
        else:
            mode = f"service at {url}"
            rankings = _through_service(data, url, embedder, settings, timeout)
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from exc
    results: dict[str, Any] = {
        "mode": mode,
        "model_id": embedder.info.model_id,
        **score(data, rankings),
    }
    folder = output or Path(f"eval-{data.name}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot_recall(
        results["recall_percent"], f"recall@N at 25 m: {data.name} ({mode})", folder / "recall.png"
    )
    recall = "  ".join(f"R@{n} {v:.1f}%" for n, v in results["recall_percent"].items())
    click.echo(f"{data.name}, {len(data.queries)} queries ({mode}): {recall}")
    for kind, shares in results["estimate_within_percent"].items():
        click.echo(
            f"  {kind} estimate within " + ", ".join(f"{r} {v:.1f}%" for r, v in shares.items())
        )
    click.echo(f"wrote {folder / 'results.json'} and {folder / 'recall.png'}")


def _through_service(
    data: VprDataset, url: str, embedder: Embedder, settings: Settings, timeout: float
) -> list[Ranking]:
    from geopin_tools.evaluation.recall import EvaluationError  # toolchain: the [tools] extra
    from geopin_tools.evaluation.run import index_database, rank_through_service

    index = vector_index(settings)
    info = embedder.info
    with _index_errors(), tqdm(total=len(data.database), unit="photo", desc="indexing") as bar:
        index.ensure(info.dim, info.model_id)
        index_database(data, embedder, info.model_id, index, settings, bar.update)
    if index.count() > len(data.database):
        click.echo(f"note: {index.alias} holds photos beyond this dataset's database", err=True)
    client = GeoPinClient(url)
    try:
        with tqdm(total=len(data.queries), unit="query", desc="querying") as bar:
            return rank_through_service(data, client, timeout, bar.update)
    except (ApiError, TimeoutError) as exc:
        raise EvaluationError(str(exc)) from exc
