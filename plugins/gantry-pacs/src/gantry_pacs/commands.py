"""``gantry listen`` and ``gantry pacs echo|find``."""

from __future__ import annotations

import sys

import click


def add_commands(cli: click.Group) -> None:
    """Add the ``listen`` command and the ``pacs`` group to ``cli``."""

    @cli.command("listen")
    @click.argument("dest", required=False)
    @click.option("--aet", default="GANTRY", show_default=True, help="Our AE title.")
    @click.option("--port", type=int, default=11112, show_default=True,
                  help="TCP port to listen on.")
    @click.option("--host", default=None, help="Address to listen on (default: the "
                  "settings' bind_host, 0.0.0.0).")
    @click.option("--forward", default=None, metavar="URL",
                  help="De-identify and C-STORE to this dimse:// peer (the same as DEST).")
    @click.option("--db", default=None, help="Working store URL (default: SQLite under "
                  "$GANTRY_HOME/runs, keyed by DEST; required without DEST).")
    @click.option("--profile", "-p", default=None, help="Privacy profile (name or file).")
    @click.option("--format", "fmt", default="dicom", show_default=True,
                  help="Export format.")
    @click.option("--tls", is_flag=True, help="Accept DICOM TLS only (certificates from "
                  "plugins.pacs.tls).")
    @click.option("--workers", "-j", type=int, default=None, help="Worker processes.")
    def listen(dest: str | None, aet: str, port: int, host: str | None, forward: str | None,
               db: str | None, profile: str | None, fmt: str, tls: bool,
               workers: int | None) -> None:
        """Receive instances by C-STORE, de-identify them and export them to DEST (a folder
        or any URL an exporter writes, e.g. dimse://RESEARCH@host:104), or --forward them.

        Without DEST, received instances are only indexed in --db. Stops cleanly on SIGTERM
        or Ctrl-C; run it again to pick up where it stopped.
        """
        from gantry import Session
        from gantry.api import GantryError, build_plugin_manager, working_store_for
        from gantry_pacs.listen import Listener
        from gantry_pacs.settings import check_ae_title, load_settings

        if dest and forward:
            raise click.UsageError("give DEST or --forward, not both")
        dest = dest or forward
        if dest is None and db is None:
            raise click.UsageError("without DEST (or --forward), --db names the store to fill")
        try:
            aet = check_ae_title(aet, "--aet")
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        store = db or working_store_for(dest, build_plugin_manager())  # type: ignore[arg-type]
        try:
            with Session(store, profile=profile, workers=workers, prestart=True) as session:
                settings = load_settings(session.run)
                listener = Listener(session, settings, aet=aet,
                                    host=host or settings.bind_host, port=port, dest=dest,
                                    fmt=fmt, tls=tls)
                listener.start()
                listener.install_signal_handlers()
                click.echo(f"gantry listen: {aet} on {host or settings.bind_host}:{port}"
                           + (" (TLS)" if tls else "")
                           + (f", exporting to {dest}" if dest else f", indexing in {store}"),
                           err=True)
                report = listener.serve()
        except GantryError as exc:
            click.echo(f"gantry: error: {exc}", err=True)
            sys.exit(1)
        click.echo(f"gantry listen: stopped: {report.associations} association(s), "
                   f"{report.received} received, {report.refused} refused, "
                   f"{report.exported} exported, {report.failed} failed", err=True)
        sys.exit(1 if report.failed or report.errors else 0)

    @cli.group("pacs")
    def pacs() -> None:
        """Talk to a DICOM peer: C-ECHO, C-FIND."""

    @pacs.command("echo")
    @click.argument("url")
    @click.option("--profile", "-p", default=None, help="Profile with plugins.pacs settings.")
    def echo_cmd(url: str, profile: str | None) -> None:
        """C-ECHO the peer of a dimse:// URL; exit 1 with the reason when it fails."""
        from gantry_pacs.net import PeerError, echo, make_ae
        from gantry_pacs.url import UrlError, parse_url

        settings = _settings(profile)
        try:
            peer = parse_url(url).peer
            echo(make_ae(settings), peer, settings)
        except (PeerError, UrlError) as exc:
            click.echo(f"gantry: error: {exc}", err=True)
            sys.exit(1)
        click.echo(f"{peer}: C-ECHO ok")

    @pacs.command("find")
    @click.argument("url")
    @click.option("--profile", "-p", default=None, help="Profile with plugins.pacs settings.")
    def find_cmd(url: str, profile: str | None) -> None:
        """List the studies (and their series) a dimse:// URL's keys match, with counts."""
        from gantry_pacs.client import FindClient
        from gantry_pacs.net import PeerError
        from gantry_pacs.url import UrlError, parse_url

        settings = _settings(profile)
        try:
            parsed = parse_url(url)
            with FindClient(parsed, settings) as finder:
                for study in finder.studies():
                    click.echo(f"study {study.study_uid}: {study.instances} instance(s)")
                    for series in finder.series(study):
                        click.echo(f"  series {series.series_uid}: {series.instances} "
                                   "instance(s)")
        except (PeerError, UrlError) as exc:
            click.echo(f"gantry: error: {exc}", err=True)
            sys.exit(1)


def _settings(profile: str | None) -> object:
    """The pacs settings of ``profile`` (or the default profile) and the environment."""
    from pathlib import Path

    from gantry.api import DEFAULT_PROFILE, Run, build_plugin_manager, load_run_profile
    from gantry_pacs.settings import load_settings

    ref = profile or DEFAULT_PROFILE
    if Path(ref).is_file():
        ref = str(Path(ref).resolve())
    hooks = build_plugin_manager()
    run = Run(profile=load_run_profile(ref, hooks), secret=b"", hooks=hooks)
    return load_settings(run)
