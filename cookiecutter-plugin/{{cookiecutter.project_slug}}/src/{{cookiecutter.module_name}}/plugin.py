"""{{ cookiecutter.plugin_name }}: hook implementations (thin glue only)."""

from __future__ import annotations

{% if cookiecutter.stage == "redact" -%}
from gantry import hookimpl
from gantry.api import Change, Redactor

#: Free-text attributes this site always removes, whatever the profile says.
REMOVED_KEYWORDS = ("StudyComments", "ImageComments", "RequestedProcedureComments")


class RemoveSiteComments:
    """Deletes free-text comment attributes, at any depth of the dataset."""

    def redact(self, dataset, context) -> list[Change]:
        """Remove the attributes in ``REMOVED_KEYWORDS`` everywhere; report what went."""
        changes: list[Change] = []

        def visit(ds, path: str) -> None:
            for keyword in REMOVED_KEYWORDS:
                if keyword in ds:
                    tag = ds.data_element(keyword).tag
                    del ds[keyword]
                    changes.append(Change("X", tag=f"({tag.group:04X},{tag.element:04X})",
                                          keyword=keyword, path=path))
            for elem in ds:
                if elem.VR == "SQ":
                    for i, item in enumerate(elem.value):
                        visit(item, f"{path}{elem.keyword}[{i}]/")

        visit(dataset, "")
        return changes


@hookimpl
def gantry_redactors():
    """Register the ``{{ cookiecutter.component_name }}`` redactor."""
    yield Redactor("{{ cookiecutter.component_name }}", factory=lambda run: RemoveSiteComments(),
                   description="removes free-text comment attributes at any depth")
{%- elif cookiecutter.stage == "audit" -%}
from gantry import hookimpl
from gantry.api import Auditor, Finding


class BurnedInAnnotationAuditor:
    """Flags instances that declare burned-in annotation, or don't say."""

    def audit(self, dataset, context) -> list[Finding]:
        """One finding when BurnedInAnnotation is YES or missing on an image."""
        value = str(dataset.get("BurnedInAnnotation", "") or "").upper()
        if value == "YES":
            return [Finding("burned-in-declared", "instance declares burned-in annotation",
                            severity="error", keyword="BurnedInAnnotation")]
        if not value and "Rows" in dataset:  # an image (pixels are not loaded for audits)
            return [Finding("burned-in-unknown", "image does not say whether text is burned in",
                            severity="warning", keyword="BurnedInAnnotation")]
        return []


@hookimpl
def gantry_auditors():
    """Register the ``{{ cookiecutter.component_name }}`` auditor."""
    yield Auditor("{{ cookiecutter.component_name }}",
                  factory=lambda run: BurnedInAnnotationAuditor(),
                  description="flags declared or undeclared burned-in annotation")
{%- elif cookiecutter.stage == "export" -%}
import json
import os
from pathlib import Path

from gantry import hookimpl
from gantry.api import Exporter, ExportRecord


class JsonLinesSink:
    """Writes one JSON line per redacted instance: its pseudonymous UIDs and modality."""

    def __init__(self, target, run) -> None:
        self.destination = target.to
        self.path = Path(target.to)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".part")
        self._fh = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115

    def target_path(self, dataset, context) -> str:
        """Rows have no file of their own."""
        return ""

    def write(self, relpath, data, dataset, context) -> ExportRecord:
        """Append one row."""
        row = {"SOPInstanceUID": str(dataset.SOPInstanceUID),
               "SeriesInstanceUID": str(dataset.SeriesInstanceUID),
               "Modality": str(dataset.get("Modality", ""))}
        line = json.dumps(row, sort_keys=True)
        self._fh.write(line + "\n")
        import hashlib

        return ExportRecord(context.instance.sop_instance_uid, row["SOPInstanceUID"],
                            self.destination, self.path.name, len(line) + 1,
                            hashlib.sha256(line.encode()).hexdigest(),
                            format="{{ cookiecutter.component_name }}")

    def close(self) -> None:
        """Finish the file atomically."""
        self._fh.close()
        os.replace(self._tmp, self.path)


@hookimpl
def gantry_exporters():
    """Register the ``{{ cookiecutter.component_name }}`` exporter."""
    yield Exporter("{{ cookiecutter.component_name }}", factory=JsonLinesSink, runs_in="parent",
                   description="one JSON line per instance")
{%- else -%}
import os
from pathlib import Path

from gantry import hookimpl
from gantry.api import Ingestor, SourceItem


def discover(uri: str, run=None):
    """Yield the files named, one per line, in a ``list://`` text file."""
    listing = Path(uri.removeprefix("list://"))
    for line in listing.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line) if os.path.isabs(line) else listing.parent / line
        stat = path.stat()
        yield SourceItem(str(path.resolve()), size=stat.st_size, mtime=stat.st_mtime)


def open_source(source: str):
    """Open one listed file."""
    return open(source, "rb")  # noqa: SIM115


@hookimpl
def gantry_ingestors():
    """Register the ``{{ cookiecutter.component_name }}`` ingestor for ``list://`` URIs."""
    yield Ingestor("{{ cookiecutter.component_name }}", schemes=("list",), discover=discover,
                   open=open_source, description="files listed in a text file")
{%- endif %}
