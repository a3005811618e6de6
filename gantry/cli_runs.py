"""``gantry runs list|show|rm``: the working stores of one-shot runs (they hold PHI).

Every ``gantry deidentify SRC DEST`` without ``--db`` keeps its store under
``$GANTRY_HOME/runs`` (see :mod:`gantry.workstore`); these commands list them (size, DEST,
last run, instance counts), show one, and remove one with its sidecars.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from gantry.workstore import (
    RunRecord,
    UsageProblem,
    drop_store,
    find_record,
    iter_records,
    runs_dir,
    store_size,
)


def _hooks() -> Any:
    import warnings

    from gantry.plugins import build_plugin_manager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return build_plugin_manager()


def _when(seconds: float) -> str:
    if not seconds:
        return "-"
    return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _entry(record: RunRecord) -> dict[str, Any]:
    return {**record.to_dict(), "size": store_size(record.store)}


def _find(name: str) -> RunRecord:
    record = find_record(name, _hooks())
    if record is None:
        raise UsageProblem(f"{name}: no working store with this key or destination "
                           "(gantry runs list)")
    return record


@click.group("runs")
def runs() -> None:
    """Working stores of one-shot runs (original headers: PHI) under $GANTRY_HOME/runs."""


@runs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs_list(as_json: bool) -> None:
    """List working stores: key, size, last run, instances, exit code, DEST."""
    entries = [_entry(r) for r in iter_records(_hooks())]
    if as_json:
        click.echo(json.dumps({"folder": str(runs_dir()), "runs": entries}, indent=2))
        return
    if not entries:
        click.echo(f"no working stores in {runs_dir()}")
        return
    click.echo(f"{'key':<16}  {'size':>9}  {'last run':<16}  {'instances':>9}  exit  destination")
    for e in entries:
        instances = e["counts"].get("instances", "?") if e["counts"] else "?"
        code = "-" if e["exit_code"] is None else str(e["exit_code"])
        click.echo(f"{e['key']:<16}  {_size(e['size']):>9}  {_when(e['last_run']):<16}  "
                   f"{instances!s:>9}  {code:>4}  {e['destination'] or '(unknown)'}")
    total = sum(e["size"] for e in entries)
    click.echo(f"{len(entries)} working store(s), {_size(total)} in {runs_dir()} "
               "(they hold original headers: gantry runs rm KEY|DEST, gantry purge)")


@runs.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs_show(name: str, as_json: bool) -> None:
    """Show one working store (NAME: its key, a key prefix, or its DEST)."""
    from gantry.exitcodes import status_counts, store_outcome

    record = _find(name)
    entry = _entry(record)
    backend = _hooks().store_backend_for(record.store)
    store = backend.open(record.store)
    try:
        entry["status"] = status_counts(store)
        entry["outcome"] = store_outcome(store).to_dict()
        entry["counts"] = store.counts().__dict__
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(entry, indent=2))
        return
    for key in ("key", "store", "destination", "source", "profile"):
        click.echo(f"{key}: {entry[key] or '-'}")
    click.echo(f"size: {_size(entry['size'])}")
    click.echo(f"created: {_when(entry['created'])}")
    click.echo(f"last run: {_when(entry['last_run'])} (exit code "
               f"{'-' if entry['exit_code'] is None else entry['exit_code']})")
    counts = entry["counts"]
    click.echo("holds: " + ", ".join(f"{counts[k]} {k}" for k in
                                     ("patients", "studies", "series", "instances", "rejected")))
    click.echo("status: " + (", ".join(f"{n} {s}" for s, n in sorted(entry["status"].items()))
                             or "empty"))


@runs.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def runs_rm(names: tuple[str, ...], yes: bool) -> None:
    """Delete working stores and their sidecars (NAMES: keys, key prefixes or DESTs)."""
    records = [_find(name) for name in names]
    if not yes:
        listed = ", ".join(r.destination or r.key for r in records)
        click.confirm(f"Delete {len(records)} working store(s) ({listed})? Resuming those runs "
                      "will start afresh", abort=True)
    for record in records:
        freed = drop_store(record.store)
        click.echo(f"removed {record.key} ({_size(freed)}; {record.destination or 'unknown'})")


__all__ = ["runs"]
