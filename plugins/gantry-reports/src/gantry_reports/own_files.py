"""The files gantry-reports writes beside an export (manifests, compliance reports and their
checksums, audit reports), as :class:`~gantry.api.OwnFile` records: an output folder taken as
input (``gantry deidentify OUT1 OUT2``) skips them as Gantry's own, by name and content."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gantry.api import OwnFile
from gantry_reports.audit_report import LONG_FIELDS, WIDE_FIELDS
from gantry_reports.manifest import CSV_FIELDS

_HTML_TITLES = (b"<title>Export manifest</title>", b"<title>Compliance report</title>")
_SHA256_LINE = re.compile(rb"[0-9a-f]{64}  [^\n/]+\n?\Z")


def _csv_header(fields: tuple[str, ...]) -> bytes:
    return ",".join(fields).encode()


def _starts_with_line(head: bytes, line: bytes) -> bool:
    return head.startswith(line) and head[len(line):len(line) + 2] in (b"\n", b"\r\n", b"\r",
                                                                         b"")


def _manifest_csv(head: bytes) -> bool:
    return _starts_with_line(head, _csv_header(CSV_FIELDS))


def _manifest_json(head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and b'"manifest_version":' in head[:200]


def _report_html(head: bytes) -> bool:
    return head.startswith(b"<!DOCTYPE html>") and any(t in head[:2048] for t in _HTML_TITLES)


def _compliance_json(head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and b'"report": "gantry compliance"' in head[:200]


def _checksum(head: bytes) -> bool:
    return _SHA256_LINE.match(head) is not None


def _audit_report(head: bytes) -> bool:
    if any(_starts_with_line(head, _csv_header(f)) for f in (WIDE_FIELDS, LONG_FIELDS)):
        return True
    first = head.lstrip(b"[\n ")
    return head.startswith(b"[") and first.startswith(b'{"sop_instance_uid": ') and (
        b'"changes": ' in first[:600] or b'"category": ' in first[:600])


def own_files() -> Iterator[OwnFile]:
    """The kinds of file this plugin writes (names as the writers name them)."""
    yield OwnFile("export manifest", ("manifest.csv", "*.manifest.csv", ".manifest.csv.tmp-*",
                                      ".*.manifest.csv.tmp-*"), _manifest_csv)
    yield OwnFile("export manifest", ("manifest.json", "*.manifest.json"), _manifest_json)
    yield OwnFile("export manifest", ("manifest.html", "*.manifest.html"), _report_html)
    yield OwnFile("compliance report", ("compliance.json",), _compliance_json)
    yield OwnFile("compliance report", ("compliance.html",), _report_html)
    yield OwnFile("report checksum", ("*.sha256",), _checksum)
    # ``gantry report audit --out FILE``: any name the user gives, the report's own header
    yield OwnFile("audit report", ("*.csv", "*.json"), _audit_report)
