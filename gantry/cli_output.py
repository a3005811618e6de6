"""What the ``gantry`` command prints: progress (a bar on a terminal, periodic plain lines
otherwise), logs (text or JSON lines, to a file) and the end-of-run summary.

Every line the command prints about a run also goes to the ``gantry`` logger, so
``--log-file run.log --log-format json`` keeps a machine-readable trail of an unattended run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from gantry.session import StageSummary

LOG = logging.getLogger("gantry")
LEVELS = ("debug", "info", "warning", "error")
#: seconds between two plain progress lines when the output is not a terminal
PROGRESS_INTERVAL = float(os.environ.get("GANTRY_PROGRESS_INTERVAL", "10") or 10)


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "message": record.getMessage()}
        out.update(getattr(record, "fields", {}) or {})
        return json.dumps(out, default=str)


def setup_logging(log_file: str | None, level: str, fmt: str) -> None:
    """Send the ``gantry`` logger to ``log_file`` (appended; text or JSON lines)."""
    LOG.setLevel(getattr(logging, level.upper()))
    LOG.propagate = False
    for handler in list(LOG.handlers):
        LOG.removeHandler(handler)
        handler.close()
    if not log_file:
        LOG.addHandler(logging.NullHandler())
        return
    try:
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
    except OSError as exc:
        from gantry.workstore import UsageProblem

        raise UsageProblem(f"--log-file {log_file}: cannot open ({exc.strerror or exc})") from None
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(message)s"))
    LOG.addHandler(handler)


def log(level: int, message: str, **fields: Any) -> None:
    """Log one line with structured ``fields`` (they appear as keys in JSON lines)."""
    LOG.log(level, message, extra={"fields": fields})


# --------------------------------------------------------------------------- progress
def _eta(done: int, total: int | None, elapsed: float) -> str:
    if not total or done <= 0 or elapsed <= 0 or done >= total:
        return ""
    seconds = (total - done) * elapsed / done
    return f", ETA {_duration(seconds)}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class PlainProgress:
    """Progress as a plain line every :data:`PROGRESS_INTERVAL` seconds per stage (count,
    total, rate, ETA), for logs and pipes where a bar would be noise or nothing."""

    def __init__(self, echo: Callable[[str], None], interval: float | None = None) -> None:
        self.echo = echo
        self.interval = PROGRESS_INTERVAL if interval is None else interval
        self._started: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int | None, nbytes: int) -> None:
        now = time.monotonic()
        started = self._started.setdefault(stage, now)
        if now - self._last.get(stage, started) < self.interval:
            return
        self._last[stage] = now
        elapsed = now - started
        rate = done / elapsed if elapsed > 0 else 0.0
        of = f"/{total}" if total else ""
        line = (f"{stage}: {done}{of} files, {nbytes / 1e6:.1f} MB, {rate:.1f} files/s"
                f"{_eta(done, total, elapsed)}")
        self.echo(line)
        log(logging.INFO, line, event="progress", stage=stage, done=done, total=total)


def progress_for(quiet: bool) -> tuple[Callable[..., None] | None, Any]:
    """The progress callback of a command and the context to run it in: a rich bar on a
    terminal, plain periodic lines otherwise, nothing when quiet."""
    if quiet:
        return None, None
    if not sys.stderr.isatty():
        return PlainProgress(lambda line: click.echo(line, err=True)), None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("{task.description:<7}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[mb]:>9.1f} MB"),
                        TextColumn("{task.fields[rate]:>7.1f} files/s"),
                        TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int | None, nbytes: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total, mb=0.0, rate=0.0)
        task_id = tasks[stage]
        elapsed = progress.tasks[task_id].elapsed or 0.0
        progress.update(task_id, completed=done, total=total, mb=nbytes / 1e6,
                        rate=done / elapsed if elapsed > 0 else 0.0)

    return update, progress


# --------------------------------------------------------------------------- summaries
def findings_line(by_severity: dict[str, dict[str, int]]) -> str:
    """``"3 warning (phi-in-text 3), 40 info (planned-change 36, verdict 4)"`` — most severe
    first, each kind with its count."""
    order = {"error": 0, "warning": 1, "info": 2}
    parts = []
    for severity in sorted(by_severity, key=lambda s: (order.get(s, 3), s)):
        kinds = by_severity[severity]
        total = sum(kinds.values())
        detail = ", ".join(f"{code} {n}" for code, n in
                           sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        parts.append(f"{total} {severity} ({detail})")
    return "; ".join(parts)


def print_summaries(summaries: Iterable[StageSummary], *, quiet: bool) -> None:
    """One line per stage (counts, findings by severity and kind), then its error lines."""
    for s in summaries:
        parts = [f"{s.done} done"]
        for label, value in (("skipped", s.skipped), ("withheld", getattr(s, "withheld", 0)),
                             ("refused by the export gate", getattr(s, "refused", 0)),
                             ("failed", s.failed), ("plugin errors", s.plugin_errors),
                             ("rejected", s.rejected), ("duplicates", s.duplicates),
                             ("conflicts", s.conflicts),
                             ("by the full pipeline (byte pass declined)", s.fallbacks)):
            if value:
                parts.append(f"{value} {label}")
        line = f"{s.stage}: {', '.join(parts)} ({s.seconds:.1f}s)"
        log(logging.INFO, line, event="stage", **{k: v for k, v in s.to_dict().items()
                                                   if k != "errors"})
        by = getattr(s, "findings_by", None) or {}
        if not quiet:
            click.echo(line, err=True)
            if s.findings:
                click.echo(f"  findings: {findings_line(by) if by else s.findings}", err=True)
            for reason, count in sorted(s.fallback_reasons.items(), key=lambda r: -r[1])[:5]:
                click.echo(f"  byte pass declined {count}x: {reason}", err=True)
        for i, error in enumerate(s.errors):
            log(logging.WARNING, error, event="problem", stage=s.stage)
            if not quiet and i < 20:
                click.echo(f"  {error}", err=True)
        if not quiet and len(s.errors) > 20:
            click.echo(f"  ... {len(s.errors) - 20} more (gantry status --rejected; "
                       "--log-file keeps them all)", err=True)
        notes = getattr(s, "notes", ())
        for i, note in enumerate(notes):
            log(logging.INFO, note, event="note", stage=s.stage)
            if not quiet and i < 50:
                click.echo(f"  {note}", err=True)
        if not quiet and len(notes) > 50:
            click.echo(f"  ... {len(notes) - 50} more", err=True)


__all__ = ["LEVELS", "JsonLines", "PlainProgress", "findings_line", "log", "print_summaries",
           "progress_for", "setup_logging"]
