"""Run the console: open the session, print the address with its token, serve until Ctrl-C."""

from __future__ import annotations

import logging
import socket
import sys

import click


def serve(store_url: str, sock: socket.socket, *, profile: str | None, read_only: bool,
          user: str, default_dest: str | None) -> None:
    """Serve the console over ``store_url`` on a bound socket until interrupted."""
    import uvicorn

    from gantry import Session
    from gantry_web.app import create_app
    from gantry_web.console import Console
    from gantry_web.security import new_token

    session = Session(store_url, profile=profile)
    console = Console(session, read_only=read_only, user=user, default_dest=default_dest)
    token = new_token()
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    # on loopback, only the console's own address (DNS rebinding); elsewhere the names the
    # machine is reached by are not known here, and the token is the guard
    loopback = host in ("127.0.0.1", "::1") or host.startswith("127.")
    hosts = {f"{shown}:{port}", f"localhost:{port}"} if loopback else set()
    app = create_app(console, token, hosts)
    mode = " (read-only)" if read_only else ""
    click.echo(f"gantry web: reviewing {session.store.url} with profile "
               f"{session.profile.name}{mode}")
    click.echo(f"gantry web: open http://{shown}:{port}/?token={token}")
    sys.stdout.flush()
    logging.getLogger("gantry_web").addHandler(logging.StreamHandler())
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    # no access log; and uvicorn's own error log would print tracebacks, whose messages may
    # quote values: the console logs the error's type only (gantry_web.app)
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a normal stop
        pass
    finally:
        session.close()
        click.echo("gantry web: stopped")
