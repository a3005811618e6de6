"""The de-identification engine (PS3.15 Annex E) and its keyed, gate-checked helpers.

Imports are lazy: ``import gantry.deid`` is cheap; names load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DeidEngine": "gantry.deid.engine",
    "IdentifierSet": "gantry.deid.identifiers",
    "collect_identifiers": "gantry.deid.identifiers",
    "Leak": "gantry.deid.gate",
    "find_leaks": "gantry.deid.gate",
    "resolve_secret": "gantry.deid.secret",
    "reidentify": "gantry.deid.reversible",
    "keyed_uid": "gantry.deid.keys",
    "keyed_pseudonym": "gantry.deid.keys",
    "keyed_date_offset": "gantry.deid.keys",
    "standalone_run": "gantry.deid.standalone",
    "instance_context": "gantry.deid.standalone",
    "patient_key": "gantry.deid.standalone",
    "DeidAuditor": "gantry.deid.audit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gantry.deid' has no attribute {name!r}")
    return getattr(import_module(module), name)
