"""``gantry pixels``: convert CTP pixel scripts, show which zone rules match a file."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("pixels")
def pixels() -> None:
    """Pixel zone rules: import CTP scripts, check rules against files."""


@pixels.command("import-ctp")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the YAML here instead of standard output.")
@click.option("--strict", is_flag=True,
              help="Exit with status 1 when anything could not be translated.")
def import_ctp(script: Path, output: Path | None, strict: bool) -> None:
    """Convert an RSNA CTP DicomPixelAnonymizer SCRIPT into gantry-pixels zone rules (YAML).

    What cannot be translated is listed on standard error and as comments in the YAML.
    """
    from gantry_pixels.ctp import convert_file

    result = convert_file(str(script))
    text = result.to_yaml(script.name)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(result.rules)} rule(s) to {output}", err=True)
    else:
        click.echo(text, nl=False)
    click.echo(f"{script}: {result.signatures} signature(s), {len(result.rules)} rule(s), "
               f"{len(result.untranslated)} not translated", err=True)
    for item in result.untranslated:
        click.echo(f"{script}:{item.line}: not translated: {item.reason}", err=True)
    if strict and result.untranslated:
        sys.exit(1)


@pixels.command("match")
@click.argument("rules", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def match(rules: Path, files: tuple[Path, ...]) -> None:
    """Show which zone rules of RULES (a profile or import-ctp output) match each of FILES."""
    import yaml
    from pydicom import dcmread

    from gantry_pixels.settings import load_settings
    from gantry_pixels.zones import matching_rules, rule_label

    doc = yaml.safe_load(rules.read_text(encoding="utf-8")) or {}
    section = (doc.get("plugins") or {}).get("gantry-pixels", doc)
    try:
        settings = load_settings(section)
    except ValueError as exc:
        raise click.ClickException(f"{rules}: {exc}") from None
    for path in files:
        try:
            ds = dcmread(path, stop_before_pixels=True, force=True)
        except Exception as exc:
            click.echo(f"{path}: cannot read: {exc}", err=True)
            continue
        names = [rule_label(r, settings.zones.index(r)) for r in matching_rules(settings, ds)]
        click.echo(f"{path}: {', '.join(names) if names else '(no rule)'}")
