"""The kernel's public API: every name a plugin may import from Gantry.

Plugins import from ``gantry`` (``hookimpl``, ``Session``) and from this module only; the
import-scan test (``tests/test_public_api.py``) fails on any other ``gantry.*`` import in a
plugin's source. Names load lazily (on first access), so a plugin's entry point that imports
``gantry.api`` pays for pydicom only when it uses a name that needs it.

A plugin that builds on another plugin imports that plugin's declared contract module,
``<package>.api`` (for example ``gantry_pixels.api``), never its internals.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# name -> module that defines it (the kernel's one implementation of each).
_EXPORTS: dict[str, str] = {
    # hooks and plugin manager
    "hookimpl": "gantry.hookspecs",
    "build_plugin_manager": "gantry.plugins",
    "GantryHooks": "gantry.plugins",
    # component and result records
    "Component": "gantry.components",
    "Ingestor": "gantry.components",
    "Auditor": "gantry.components",
    "Redactor": "gantry.components",
    "StoreBackend": "gantry.components",
    "IndexEntries": "gantry.components",
    "Exporter": "gantry.components",
    "Executor": "gantry.components",
    "ConfigKey": "gantry.components",
    "OwnFile": "gantry.ownfiles",
    "ExportTarget": "gantry.components",
    "SourceItem": "gantry.records",
    "SeriesOutcome": "gantry.records",
    "Change": "gantry.records",
    "Finding": "gantry.records",
    "ExportRecord": "gantry.records",
    "EXPORT_FIELDS": "gantry.records",
    "Rejection": "gantry.records",
    "AuditEvent": "gantry.records",
    "Decision": "gantry.records",
    "DECISION_ACTIONS": "gantry.records",
    "PatientKey": "gantry.records",
    "Pseudonym": "gantry.records",
    # errors
    "GantryError": "gantry.errors",
    "PluginError": "gantry.errors",
    "ComponentNotFound": "gantry.errors",
    "ProfileError": "gantry.errors",
    "InputError": "gantry.errors",
    "StoreError": "gantry.errors",
    "ExportError": "gantry.errors",
    "LeakError": "gantry.errors",
    # run state and protocols
    "Run": "gantry.context",
    "RunSpec": "gantry.context",
    "InstanceContext": "gantry.context",
    "Stash": "gantry.stash",
    "StashKey": "gantry.stash",
    "Store": "gantry.protocols",
    "PixelMeta": "gantry.protocols",
    "StoreCounts": "gantry.protocols",
    "AddOutcome": "gantry.protocols",
    "InstanceSink": "gantry.components",
    "SeriesSink": "gantry.components",
    "RedactorImpl": "gantry.components",
    "AuditorImpl": "gantry.components",
    "ExecutorImpl": "gantry.components",
    "BytePass": "gantry.components",
    "BytePassDeclined": "gantry.components",
    "Streamed": "gantry.dicom.streamed",
    # object model
    "Patient": "gantry.model",
    "Study": "gantry.model",
    "Series": "gantry.model",
    "Instance": "gantry.model",
    "KEY_ATTRIBUTES": "gantry.model",
    "optional_int": "gantry.model",
    # profiles and sessions
    "Profile": "gantry.profiles",
    "DEFAULT_PROFILE": "gantry.profiles",
    "Session": "gantry.session",
    "load_run_profile": "gantry.runbuild",
    "patient_key": "gantry.pipeline",
    "decisions_in_force": "gantry.decisions",
    "withheld_uids": "gantry.decisions",
    "Preview": "gantry.preview",
    "preview_instance": "gantry.preview",
    # working stores and exit codes
    "private_dir": "gantry.workstore",
    "resolve_store": "gantry.workstore",
    "UsageProblem": "gantry.workstore",
    "exit_code_for": "gantry.exitcodes",
    # sources
    "is_url": "gantry.sources",
    "open_source": "gantry.sources",
    # query language
    "QueryError": "gantry.query",
    "parse_query": "gantry.query",
    "referenced_keywords": "gantry.query",
    "to_predicate": "gantry.query",
    "header_row": "gantry.query",
    "name_for_column": "gantry.query",
    "INVALID_COLUMN": "gantry.query",
    # its syntax tree, for compilers to other engines (gantry-parquet: DuckDB, Arrow)
    "Name": "gantry.query.syntax",
    "Node": "gantry.query.syntax",
    "Kind": "gantry.query.syntax",
    "Compare": "gantry.query.syntax",
    "InList": "gantry.query.syntax",
    "Contains": "gantry.query.syntax",
    "StartsWith": "gantry.query.syntax",
    "Between": "gantry.query.syntax",
    "IsNull": "gantry.query.syntax",
    "And": "gantry.query.syntax",
    "Or": "gantry.query.syntax",
    "Not": "gantry.query.syntax",
    # the byte layer
    "DicomFormatError": "gantry.dicom.errors",
    "ElementSpan": "gantry.dicom.elements",
    "split": "gantry.dicom.elements",
    "split_header": "gantry.dicom.elements",
    "raw_element": "gantry.dicom.elements",
    "explicit_little": "gantry.dicom.elements",
    "header_from_bytes": "gantry.dicom.header",
    "RawHeader": "gantry.dicom.rawheader",
    "value_of": "gantry.dicom.values",
    "plain_value": "gantry.dicom.values",
    "ui_text_at": "gantry.dicom.values",
    # de-identification building blocks plugins reuse
    "RuleSet": "gantry.deid.rules",
    "build_rules": "gantry.deid.rules",
    "explain_tag": "gantry.deid.rules",
    "resolve_compound": "gantry.deid.rules",
    "iod_of": "gantry.deid.iod",
    "types_at": "gantry.deid.iod",
    "conformant_action": "gantry.deid.iod",
    "TEXT_VRS": "gantry.deid.vr",
    "dummy_value": "gantry.deid.vr",
    "keeps_uid": "gantry.deid.uids",
    "is_well_known": "gantry.deid.uids",
    "shift_da": "gantry.deid.dates",
    "shift_dt": "gantry.deid.dates",
    "decoded": "gantry.dicom.values",
    "collect_identifiers": "gantry.deid.identifiers",
    "find_leaks": "gantry.deid.gate",
    "STRUCTURAL": "gantry.deid.engine",
    "longitudinal_state": "gantry.deid.markers",
    "method_codes": "gantry.deid.markers",
    # built-ins plugins build on
    "DicomFolderSink": "gantry.builtins.dicom_export",
    "safe_component": "gantry.builtins.dicom_export",
    "instance_stat": "gantry.builtins.memory_store",
    "same_source": "gantry.builtins.memory_store",
    "source_stat": "gantry.builtins.memory_store",
    # the command line plugins build on (and where one-shot runs keep their working state)
    "working_store_for": "gantry.workstore",
    "default_db_for": "gantry.workstore",
    "gantry_home": "gantry.workstore",
    "__version__": "gantry",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    pass


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gantry.api' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
