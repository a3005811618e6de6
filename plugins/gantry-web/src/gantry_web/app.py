"""The console's pages: Starlette routes rendering Jinja2 templates (no JavaScript needed).

URLs carry opaque handles, page numbers, frame numbers and window values only; a query or a
destination is POSTed, never put in a URL. Every POST needs the CSRF field; the state-changing
ones are refused by a ``--read-only`` console.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from gantry_web.console import PAGE_SIZE, Console, NotFound
from gantry_web.security import TokenGuard, check_csrf, csrf_for

if TYPE_CHECKING:
    from starlette.datastructures import FormData

HERE = Path(__file__).parent
log = logging.getLogger("gantry_web")


def _int(value: Any, default: int, low: int | None = None, high: int | None = None) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        return default
    if low is not None:
        out = max(low, out)
    if high is not None:
        out = min(high, out)
    return out


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and abs(out) < 1e12 else None  # no NaN, no absurd values


def create_app(console: Console, token: str, hosts: set[str]) -> Starlette:
    """The console's ASGI application (``hosts``: the Host values it answers to; empty for
    any, as in tests)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(csrf=csrf_for(token), read_only=console.read_only,
                                 page_size=PAGE_SIZE, store_url=_store_label(console))

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("user", console.user)
        return templates.TemplateResponse(request, name, context, status_code=status)

    async def form(request: Request) -> FormData:
        data = await request.form()
        if not check_csrf(token, data.get("csrf")):  # type: ignore[arg-type]
            raise HTTPException(403, "missing or wrong CSRF field: reload the page")
        return data

    def writable() -> None:
        if console.read_only:
            raise HTTPException(403, "this console is read-only (started with --read-only)")

    async def home(request: Request) -> Response:
        return RedirectResponse("/patients", status_code=303)

    async def patients(request: Request) -> Response:
        listing = console.patients(_int(request.query_params.get("page"), 1, 1))
        counts = console.store.counts()
        return page(request, "patients.html", listing=listing, counts=counts,
                    title="Patients")

    async def studies(request: Request) -> Response:
        patient, listing = console.studies(request.path_params["handle"],
                                           _int(request.query_params.get("page"), 1, 1))
        return page(request, "studies.html", patient=patient, listing=listing,
                    title="Studies of a patient")

    async def series(request: Request) -> Response:
        study, listing = console.series(request.path_params["handle"],
                                        _int(request.query_params.get("page"), 1, 1))
        return page(request, "series.html", study=study, listing=listing,
                    title="Series of a study")

    async def instances(request: Request) -> Response:
        params = request.query_params
        series_info, listing = console.instances(
            request.path_params["handle"], _int(params.get("page"), 1, 1),
            after=params.get("after") or None, before=params.get("before") or None,
            last=params.get("at") == "last")
        return page(request, "instances.html", series=series_info, listing=listing,
                    title="Instances of a series")

    async def search_form(request: Request) -> Response:
        return page(request, "search.html", title="Search", expression="", error=None)

    async def search_post(request: Request) -> Response:
        from gantry.api import QueryError

        data = await form(request)
        expression = str(data.get("q", "")).strip()
        if not expression:
            return page(request, "search.html", status=400, title="Search", expression="",
                        error={"message": "type a query", "pointer": ""})
        try:
            rid = console.search(expression)
        except QueryError as exc:
            return page(request, "search.html", status=400, title="Search",
                        expression=expression, error={"message": str(exc),
                                                      "pointer": exc.pointer()})
        return RedirectResponse(f"/search/{rid}", status_code=303)

    async def search_result(request: Request) -> Response:
        rid = request.path_params["rid"]
        result, listing = console.search_page(rid, _int(request.query_params.get("page"), 1, 1))
        return page(request, "results.html", rid=rid, result=result, listing=listing,
                    title="Search results")

    async def instance(request: Request) -> Response:
        from gantry_web.viewer import view_model

        handle = request.path_params["handle"]
        grant = request.query_params.get("grant")
        model = view_model(console, handle,  # frames count from 1 on the page
                           frame=_int(request.query_params.get("frame"), 1, 1) - 1,
                           center=_float(request.query_params.get("wc")),
                           width=_float(request.query_params.get("ww")),
                           grant=grant if console.granted(handle, grant) else None)
        return page(request, "instance.html", title="Instance", v=model)

    async def frame_png(request: Request) -> Response:
        from gantry_web.viewer import frame_png as render

        handle = request.path_params["handle"]
        side = request.query_params.get("side", "after")
        if side not in ("before", "after"):
            raise HTTPException(400, "side is before or after")
        grant = request.query_params.get("grant")
        if side == "before" and not console.granted(handle, grant):
            raise HTTPException(403, "the original pixels need 'Show originals' first")
        data = render(console, handle, side, _int(request.query_params.get("frame"), 0, 0),
                      _float(request.query_params.get("wc")),
                      _float(request.query_params.get("ww")))
        return Response(data, media_type="image/png")

    async def reveal(request: Request) -> Response:
        await form(request)
        handle = request.path_params["handle"]
        grant = console.reveal(handle)
        return RedirectResponse(f"/instances/{handle}?grant={grant}", status_code=303)

    async def decide(request: Request) -> Response:
        data = await form(request)
        writable()
        action = str(data.get("action", ""))
        back = str(data.get("next", "/patients"))
        if not back.startswith("/") or back.startswith("//"):
            back = "/patients"
        try:
            count = console.decide(action, str(data.get("reason", "")),
                                   instance=str(data.get("instance", "")) or None,
                                   series=str(data.get("series", "")) or None,
                                   search=str(data.get("search", "")) or None)
        except ValueError as exc:
            return page(request, "message.html", status=400, title="Decision refused",
                        message=str(exc), back=back)
        return page(request, "message.html", title="Decision recorded",
                    message=f"{action}: {count} instance(s) recorded as {console.user}",
                    back=back)

    async def zones(request: Request) -> Response:
        return page(request, "zones.html", title="Zone rules", rules=console.zone_rules(),
                    yaml=console.zones_yaml(), profile=console.session.profile.name)

    async def accept_zone(request: Request) -> Response:
        data = await form(request)
        writable()
        handle = request.path_params["handle"]
        try:
            console.accept_zone(handle, _int(data.get("index"), -1))
        except ValueError as exc:
            return page(request, "message.html", status=400, title="Zone rule refused",
                        message=str(exc), back=f"/instances/{handle}")
        return RedirectResponse("/zones", status_code=303)

    async def export_page(request: Request) -> Response:
        return page(request, "export.html", title="Export", job=console.export_job,
                    dest=console.default_dest or "")

    async def export_post(request: Request) -> Response:
        from gantry_web.export import start_export

        data = await form(request)
        writable()
        try:
            start_export(console, str(data.get("dest", "")))
        except (ValueError, RuntimeError) as exc:
            return page(request, "message.html", status=400, title="Export refused",
                        message=str(exc), back="/export")
        return RedirectResponse("/export", status_code=303)

    async def compliance_html(request: Request) -> Response:
        job = console.export_job
        html = (job.compliance or {}).get("html") if job is not None else None
        if not html or not Path(html).is_file():
            raise HTTPException(404, "no compliance report yet")
        return FileResponse(html, media_type="text/html")

    async def decisions(request: Request) -> Response:
        from gantry_web.viewer import decision_rows

        rows, listing = decision_rows(console, _int(request.query_params.get("page"), 1, 1))
        return page(request, "decisions.html", title="Decisions", rows=rows, listing=listing)

    async def not_found(request: Request, exc: Exception) -> Response:
        return page(request, "message.html", status=404, title="Not found", message=str(exc),
                    back="/patients")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return page(request, "message.html", status=exc.status_code, title="Refused",
                    message=str(exc.detail), back="/patients")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("gantry web: %s while answering a request", type(exc).__name__)
        return page(request, "message.html", status=500, title="Error",
                    message=f"{type(exc).__name__}: the console could not answer this "
                            "request", back="/patients")

    routes = [
        Route("/", home),
        Route("/patients", patients),
        Route("/patients/{handle}", studies),
        Route("/studies/{handle}", series),
        Route("/series/{handle}", instances),
        Route("/search", search_form, methods=["GET"]),
        Route("/search", search_post, methods=["POST"]),
        Route("/search/{rid}", search_result),
        Route("/instances/{handle}", instance),
        Route("/instances/{handle}/frame.png", frame_png),
        Route("/instances/{handle}/reveal", reveal, methods=["POST"]),
        Route("/instances/{handle}/zone", accept_zone, methods=["POST"]),
        Route("/decide", decide, methods=["POST"]),
        Route("/decisions", decisions),
        Route("/zones", zones),
        Route("/export", export_page, methods=["GET"]),
        Route("/export", export_post, methods=["POST"]),
        Route("/export/compliance.html", compliance_html),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes,
                     middleware=[Middleware(TokenGuard, token=token, hosts=hosts)],
                     exception_handlers={NotFound: not_found, HTTPException: http_error,
                                         PermissionError: http_error_permission(page),
                                         Exception: server_error})


def http_error_permission(page: Any) -> Any:
    """A handler answering 403 for a :class:`PermissionError` (a read-only console)."""

    async def handler(request: Request, exc: Exception) -> Response:
        return page(request, "message.html", status=403, title="Refused", message=str(exc),
                    back="/patients")

    return handler


def _store_label(console: Console) -> str:
    """The store as the header shows it (its URL: a path, not an identifier of anyone)."""
    return console.store.url
