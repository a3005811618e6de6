"""``gantry report``: compliance, audit and manifest reports."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click


def add_report_commands(cli: click.Group) -> None:
    """Add the ``gantry report`` group."""

    @cli.group("report")
    def report() -> None:
        """Compliance, audit and manifest reports."""

    @report.command("compliance")
    @click.argument("dataset", type=click.Path(exists=True, file_okay=False))
    @click.option("--profile", "-p", default=None,
                  help="Privacy profile the dataset must satisfy (default ps3.15/basic).")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
                  help="Folder for compliance.html/.json (default: DATASET-compliance next to "
                       "the dataset).")
    @click.option("--db", default=None,
                  help="The working store that made the export: also check every instance "
                       "against its original (gate re-run, pseudonyms, UIDs, date shifts; needs "
                       "the same project secret).")
    @click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
    def compliance(dataset: str, profile: str | None, out_dir: str | None, db: str | None,
                   as_json: bool) -> None:
        """Check every instance of an exported DATASET against every rule of a profile.

        Writes compliance.html and compliance.json (pass/fail per rule and per instance, what
        could not be verified, tool versions, the report's sha256). Exit code 1 when a rule
        fails.
        """
        from gantry.api import DEFAULT_PROFILE, build_plugin_manager, load_run_profile
        from gantry_reports.compliance import check_dataset

        root = Path(dataset).resolve()
        ref = profile or DEFAULT_PROFILE
        if Path(ref).is_file():
            ref = str(Path(ref).resolve())
        target = Path(out_dir).resolve() if out_dir else root.parent / f"{root.name}-compliance"
        if target.is_relative_to(root):
            raise click.UsageError("--out must be outside the dataset being checked")
        if db:
            from gantry import Session
            from gantry_reports.originals import Originals

            with Session(store=_store(db), profile=ref) as session:
                summary = check_dataset(root, session.profile, out_dir=target,
                                        originals=Originals(session))
        else:
            resolved = load_run_profile(ref, build_plugin_manager())
            summary = check_dataset(root, resolved, out_dir=target)
        if as_json:
            click.echo(json.dumps(summary, indent=1))
        else:
            click.echo(f"{summary['verdict'].upper()}: {summary['instances']} instance(s), "
                       f"{summary['pass']} pass, {summary['fail']} fail, "
                       f"{summary['unverified']} with unverifiable rules; "
                       f"{summary['rules_failed']} of {summary['rules']} rules failed")
            click.echo(f"report: {summary['html']}")
            click.echo(f"        {summary['json']} (sha256 {summary['report_sha256']})")
        if summary["verdict"] == "fail":
            sys.exit(1)

    @report.command("audit")
    @click.option("--db", envvar="GANTRY_DB", required=True,
                  help="Working store URL (env GANTRY_DB), or the DEST of a one-shot run.")
    @click.option("--profile", "-p", default=None, help="Privacy profile (name or file).")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
                  show_default=True)
    @click.option("--long", "long_format", is_flag=True,
                  help="One row per change instead of one row per instance.")
    @click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
                  help="Write to this file instead of standard output.")
    @click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
    def audit(db: str, profile: str | None, fmt: str, long_format: bool,
              out_file: str | None, as_json: bool) -> None:
        """Per instance, what was removed, replaced, shifted, cleaned or redacted.

        Actions and attribute names only, never values; instances are named by their
        pseudonymous UIDs (the same keyed mapping the export uses).
        """
        from gantry import Session
        from gantry_reports.audit_report import LONG_FIELDS, WIDE_FIELDS, long_rows, wide_rows

        fmt = "json" if as_json else fmt
        fields = LONG_FIELDS if long_format else WIDE_FIELDS
        with Session(store=_store(db), profile=profile) as session:
            rows = long_rows(session) if long_format else wide_rows(session)
            if out_file:
                with open(out_file, "w", newline="", encoding="utf-8") as out:
                    _write(out, rows, fields, fmt)
            else:
                _write(sys.stdout, rows, fields, fmt)

    @report.command("manifest")
    @click.argument("destination")
    @click.option("--db", envvar="GANTRY_DB", required=True,
                  help="Working store URL (env GANTRY_DB), or the DEST of a one-shot run.")
    @click.option("--profile", "-p", default=None, help="Privacy profile (name or file).")
    @click.option("--no-thumbnails", is_flag=True, help="Leave thumbnails out of the HTML.")
    @click.option("--rehash", is_flag=True,
                  help="Read and hash every file again, even one whose size and modification "
                       "time are those its export recorded.")
    @click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
    def manifest(destination: str, db: str, profile: str | None, no_thumbnails: bool,
                 rehash: bool, as_json: bool) -> None:
        """(Re)write manifest.html/.csv/.json of an export DESTINATION from the store's export
        records (exports write them automatically; this refreshes them)."""
        from gantry import Session
        from gantry_reports.manifest import write_manifests

        with Session(store=_store(db), profile=profile) as session:
            known = {r.destination for r in session.store.iter_exports()}
            dest = destination
            if dest not in known:
                resolved = str(Path(destination).resolve())
                match = [d for d in known if str(Path(d.removeprefix("file://")).resolve())
                         == resolved]
                if not match:
                    names = ", ".join(sorted(known)) or "none"
                    raise click.ClickException(f"{destination}: the store has no export to this "
                                               f"destination (known: {names})")
                dest = match[0]
            written = write_manifests(dest, session.store.iter_exports(dest),
                                      profile=session.profile.name,
                                      thumbnails=not no_thumbnails, rehash=rehash,
                                      hooks=session.hooks)
        if as_json:
            click.echo(json.dumps({"written": [str(p) for p in written]}))
            return
        for path in written:
            click.echo(str(path))


def _store(db: str) -> str:
    """The store to open: a URL, or the working store of a one-shot run's DEST (never
    created by a report)."""
    from gantry.api import build_plugin_manager, resolve_store

    return resolve_store(db, build_plugin_manager())


def _write(out: Any, rows: Any, fields: tuple[str, ...], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
        return
    out.write("[")
    for i, row in enumerate(rows):
        out.write(("," if i else "") + "\n " + json.dumps(row))
    out.write("\n]\n")
