"""``gantry web``: start the review console on loopback, with a token printed once."""

from __future__ import annotations

import getpass
import ipaddress
import socket

import click


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("web")
@click.argument("dest", required=False)
@click.option("--db", envvar="GANTRY_DB", default=None,
              help="Store URL to review (sqlite:///cohort.db); default: the working store of "
                   "DEST, as `gantry deidentify SRC DEST` left it.")
@click.option("--profile", "-p", default=None,
              help="Privacy profile the console previews and exports with (default "
                   "ps3.15/basic).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback unless you mean otherwise).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port (0: any free port).")
@click.option("--read-only", is_flag=True,
              help="Browse and view only: decisions, zone rules and exports are refused.")
@click.option("--user", default=None, help="Name recorded with decisions (default: login name).")
def web(dest: str | None, db: str | None, profile: str | None, host: str, port: int,
        read_only: bool, user: str | None) -> None:
    """Serve the review console over a store: browse, view, approve or withhold, export.

    A random access token is printed with the address; every request needs it (the first
    visit with ?token=... sets a cookie). Stop with Ctrl-C.
    """
    from gantry.api import GantryError, build_plugin_manager, resolve_store

    if db is None and dest is None:
        raise click.UsageError("give DEST (an output of gantry deidentify) or --db URL")
    try:  # a read command: a store that is not there is an error, never created
        store_url = resolve_store(db, build_plugin_manager(), dest=dest, must_exist=True)
    except GantryError as exc:
        raise click.ClickException(str(exc)) from None
    if not _is_loopback(host):
        click.echo(f"gantry web: warning: listening on {host}: anyone who can reach it and "
                   "has the token can see this store", err=True)
    from gantry_web.server import serve

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait from now on: the address printed works at once
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    serve(store_url, sock, profile=profile, read_only=read_only,
          user=user or getpass.getuser(), default_dest=dest)
