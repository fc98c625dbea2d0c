"""``geopin locate``: ask a running gateway where photos were taken.

One photo: a short summary (or the job's JSON). Many: a few jobs in flight at a time
(``GeoPinClient.locate_many``), a progress bar, and a table or a file of answers that a
re-run resumes. Ctrl-C stops submitting and waits for the jobs in flight; a second leaves.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

import click
from tqdm import tqdm

from geopin.answers import Answer
from geopin.cli.answer_files import AnswerFile, AnswerFileError, Format
from geopin.cli.answer_text import Table, summary
from geopin.cli.photos import expand
from geopin.client import ApiError, Batch, GeoPinClient
from geopin.top_k import TOP_K_MAX, TOP_K_MIN

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
SAVE_EVERY_S = 1.0  # a GeoJSON output is rewritten at most this often, and at the end
INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT)


@click.command()
@click.argument("photos", nargs=-1, required=True)
@click.option(
    "--url",
    default=lambda: os.environ.get("GEOPIN_URL", DEFAULT_GATEWAY),
    show_default="GEOPIN_URL or " + DEFAULT_GATEWAY,
    help="The gateway.",
)
@click.option("--top-k", type=click.IntRange(TOP_K_MIN, TOP_K_MAX), default=None)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for a job.")
@click.option("--api-key", envvar="GEOPIN_API_KEY", help="Bearer key [env GEOPIN_API_KEY].")
@click.option("--callback-url", help="Also POST a signed webhook here when each job ends.")
@click.option("--bbox", help="Search only here: SOUTH,WEST,NORTH,EAST in degrees.")
@click.option("--center", help="Search only around LAT,LON (with --radius-m).")
@click.option("--radius-m", help="Radius of --center, metres.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File of answers."
)
@click.option(
    "--format",
    "format_",
    type=click.Choice([f.value for f in Format]),
    help="Of --output; unset: from its suffix (.csv, .jsonl, .geojson).",
)
@click.option(
    "-j",
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs in flight at once.",
)
@click.option("--json", "as_json", is_flag=True, help="One photo: print its job as JSON.")
def locate(
    photos: tuple[str, ...],
    url: str,
    top_k: int | None,
    timeout: float,
    api_key: str | None,
    callback_url: str | None,
    bbox: str | None,
    center: str | None,
    radius_m: str | None,
    output: Path | None,
    format_: str | None,
    concurrency: int,
    as_json: bool,
) -> None:
    """Ask a running GeoPin where each PHOTO was taken (files, folders, globs).

    One photo: where, how sure, and its best match (--json: the whole job). Several: a
    table, or with --output a CSV, JSON Lines or GeoJSON file; running the same command
    again skips the photos that file already answers.
    """
    found = expand(photos)
    single = output is None and len(photos) == 1 and Path(photos[0]).is_file()
    if as_json and not single:
        raise click.UsageError(
            "--json prints one photo's job; for several, use --output answers.jsonl"
        )
    # The gateway validates the area and answers a one-line problem when it is wrong.
    area = {"bbox": bbox, "center": center, "radius_m": radius_m}
    fields = {name: value for name, value in area.items() if value is not None}
    client = GeoPinClient(url, api_key)
    try:
        if single:
            _one(client.locate_many(found, top_k, callback_url, fields, 1, timeout), as_json)
            return
        out = _open_output(output, format_)
        todo = [photo for photo in found if out is None or photo not in out.answered]
        if out is not None and len(todo) < len(found):
            click.echo(f"{len(found) - len(todo)} photo(s) already answered in {output}", err=True)
        if out is not None and not todo:
            out.close()
            return
        batch = client.locate_many(todo, top_k, callback_url, fields, concurrency, timeout)
        _many(batch, todo, out)
    except (ApiError, AnswerFileError) as exc:
        raise click.ClickException(str(exc)) from exc


def _one(batch: Batch, as_json: bool) -> None:
    answer = next(batch)
    if as_json and answer.job is not None:
        click.echo(json.dumps(answer.job, indent=2))
    if answer.status == "failed":
        raise click.ClickException(f"{answer.error_code}: {answer.error_message}")
    if not as_json:
        click.echo(summary(answer))


def _open_output(output: Path | None, format_: str | None) -> AnswerFile | None:
    if output is None:
        if format_ is not None:
            raise click.UsageError("--format says how to write --output FILE; give one")
        return None
    format = Format(format_) if format_ else Format.of(output)
    if format is None:
        raise click.UsageError(f"say --format for {output} (or name it .csv, .jsonl, .geojson)")
    try:
        return AnswerFile(output, format)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from exc


def _many(batch: Batch, todo: list[str], out: AnswerFile | None) -> None:
    table = Table(todo) if out is None else None
    answers: list[Answer] = []
    failed = 0
    saved = time.monotonic()
    with _ctrl_c(batch) as presses, tqdm(total=len(todo), unit="photo", file=sys.stderr) as bar:
        try:
            for answer in batch:
                answers.append(answer)
                if table is not None:
                    lines = [table.header()] if len(answers) == 1 else []
                    tqdm.write("\n".join([*lines, table.row(answer)]), file=sys.stdout)
                if out is not None:
                    out.add(answer)
                    if time.monotonic() - saved >= SAVE_EVERY_S:
                        out.save()
                        saved = time.monotonic()
                failed += answer.status == "failed"
                bar.set_postfix(failed=failed, refresh=False)
                bar.update()
        finally:
            if out is not None:
                out.close()
    _report(answers, len(todo), out, presses())


def _report(answers: list[Answer], asked: int, out: AnswerFile | None, presses: int) -> None:
    failed = sum(a.status == "failed" for a in answers)
    where = f"; written to {out.path}" if out is not None else ""
    click.echo(
        f"{len(answers)} of {asked} photo(s) answered: {len(answers) - failed} located, "
        f"{failed} failed{where}",
        err=True,
    )
    retry = sum(not a.final for a in answers)
    if presses:
        left = asked - len(answers)
        click.echo(f"stopped by Ctrl-C with {left} photo(s) not answered", err=True)
        sys.exit(INTERRUPTED)
    if retry:
        again = "run the same command again to retry them" if out else "try them again later"
        raise click.ClickException(
            f"{retry} photo(s) failed for a reason other than the photo itself; {again}"
        )


@contextmanager
def _ctrl_c(batch: Batch) -> Iterator[Callable[[], int]]:
    """The first Ctrl-C stops submitting and lets the jobs in flight end; the second
    abandons them. Either way the loop ends between two answers, so the file stays whole."""
    presses = 0

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            batch.stop()
            _say("\nstopping: waiting for the photos in flight (Ctrl-C again to leave now)\n")
        else:
            batch.abandon()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield lambda: presses
    finally:
        signal.signal(signal.SIGINT, previous)


def _say(message: str) -> None:
    """Write from a signal handler: straight to the descriptor, taking no stream's lock."""
    with suppress(OSError, ValueError):  # no descriptor (a test runner's stream): say nothing
        os.write(sys.stderr.fileno(), message.encode())
