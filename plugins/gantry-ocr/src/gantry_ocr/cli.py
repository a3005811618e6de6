"""``gantry ocr``: propose zone rules from burned-in text, scan files for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click


@click.group("ocr")
def ocr() -> None:
    """Burned-in text: discover zone rules, scan files."""


def _settings(profile: str | None) -> Any:
    from gantry_ocr.settings import load_settings

    if not profile:
        return load_settings({})
    from gantry.api import build_plugin_manager, load_run_profile

    hooks = build_plugin_manager()
    loaded = load_run_profile(profile, hooks)
    return load_settings((loaded.plugins or {}).get("gantry-ocr", {}))


def _from_db(db: str, profile: str | None) -> Iterator[tuple[str, Any]]:
    from gantry import Session
    from gantry.api import build_plugin_manager, resolve_store

    kwargs: dict[str, Any] = {"store": resolve_store(db, build_plugin_manager())}
    if profile:
        kwargs["profile"] = profile
    with Session(**kwargs) as session:
        for instance in session.instances():
            try:
                ds = instance.load(pixels=True)
            except Exception as exc:
                click.echo(f"{instance.sop_instance_uid}: cannot read: {exc}", err=True)
                continue
            if "PixelData" in ds:
                yield instance.sop_instance_uid, ds
            instance.unload()


@ocr.command("discover")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--db", envvar="GANTRY_DB", help="Read instances from this session store.")
@click.option("--profile", help="Profile whose gantry-ocr settings to use.")
@click.option("--min-share", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Propose a box seen in at least this share of a device's instances.")
@click.option("--padding", type=click.IntRange(0, 200), default=4, show_default=True,
              help="Pixels added around each proposed box.")
@click.option("--frames", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Frames read per multi-frame instance.")
@click.option("--workers", type=click.IntRange(0, 256), default=0,
              help="Parallel OCR processes (0: one per CPU).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the YAML here instead of standard output.")
def discover_cmd(paths: tuple[Path, ...], db: str | None, profile: str | None,
                 min_share: float, padding: int, frames: int, workers: int,
                 output: Path | None) -> None:
    """Propose zone rules from text found across PATHS (files/folders) or a session --db.

    Text boxes are clustered per device (Manufacturer, model, Rows x Columns); areas seen in
    enough instances become boxes of a rule. The YAML is meant to be reviewed, then added to
    the profile under plugins: gantry-pixels: zones.
    """
    from gantry_ocr.discover import cluster, discover, iter_folder, propose_yaml
    from gantry_ocr.engine import OcrUnavailable, check_tesseract

    if not paths and not db:
        raise click.UsageError("give files/folders to read, or --db URL (or GANTRY_DB)")
    try:
        check_tesseract()
    except OcrUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    settings = _settings(profile)
    source = _from_db(db, profile) if db and not paths else iter_folder(str(p) for p in paths)
    errors: list[str] = []

    def on_error(label: str, exc: Exception) -> None:
        errors.append(label)
        click.echo(f"{label}: skipped: {exc}", err=True)

    sightings = discover(source, settings=settings, workers=workers, max_frames=frames,
                         on_error=on_error)
    text = propose_yaml(cluster(sightings), min_share=min_share, padding=padding)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    devices = len({s.device for s in sightings})
    click.echo(f"read {len(sightings)} instance(s) of {devices} device(s); "
               f"{len(errors)} skipped" + (f"; wrote {output}" if output else ""), err=True)


@ocr.command("scan")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--profile", help="Profile whose gantry-ocr settings to use.")
@click.option("--show-text", is_flag=True,
              help="Also print text that is not identifying (identifying text never is).")
def scan_cmd(paths: tuple[Path, ...], profile: str | None, show_text: bool) -> None:
    """Report burned-in text in files: one line per text area, identifying ones marked."""
    from gantry_ocr.components import OcrAuditor
    from gantry_ocr.discover import iter_folder
    from gantry_ocr.engine import OcrUnavailable, check_tesseract

    try:
        check_tesseract()
    except OcrUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    auditor = OcrAuditor(_settings(profile))
    for label, ds in iter_folder(str(p) for p in paths):
        try:
            findings = auditor.audit(ds, None)  # type: ignore[arg-type]
        except Exception as exc:
            click.echo(f"{label}: error: {exc}", err=True)
            continue
        if not findings:
            click.echo(f"{label}: no text")
        for f in findings:
            text = f.extra.get("text") if show_text else None
            click.echo(f"{label}: {f.severity}: {f.message}" + (f" [{text}]" if text else ""))
