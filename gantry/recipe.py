"""What an export's outputs are made with — its *recipe* — and the check a resumed export
makes against the recipe the destination's recorded outputs were made with.

The recipe has three parts, each reduced to a digest: the resolved profile (options, tag and
private rules, the redaction and audit stacks, plugin settings, ``burned_in``, the recipient
certificate's bytes...), the project secret (a keyed hash of it, never the secret), and the
plugin stack (every loaded plugin with its version; local hook files by content). A resume
whose recipe differs from the recorded one would only relabel files made another way: it
stops, naming what differs, unless asked to start afresh (``fresh=True``, ``--fresh``), which
re-exports every instance under the new recipe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gantry.context import Run

#: The audit-log event that records a destination's recipe.
EVENT = "export-recipe"
_PROFILE_EXCLUDE = {"source", "export", "store", "description", "name"}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def recipe_parts(run: Run) -> dict[str, str]:
    """The digests of the run's profile, secret and plugin stack."""
    from gantry import __version__

    profile = run.profile.model_dump(mode="json", exclude=_PROFILE_EXCLUDE)
    certificate = run.profile.reversible.recipient_certificate
    if certificate:
        try:
            profile["reversible"]["certificate_sha256"] = hashlib.sha256(
                Path(certificate).read_bytes()).hexdigest()
        except OSError:
            pass
    plugins = []
    for info in run.hooks.plugins(include_builtin=True):
        if info.status not in ("loaded", "builtin", "local"):
            continue
        entry = [info.name, info.version, info.status]
        if info.status == "local":  # the file's content, wherever the run loaded it from
            module = sys.modules.get(info.module)
            try:
                entry.append(hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest())
            except (AttributeError, TypeError, OSError):
                entry.append(info.module)
        plugins.append(entry)
    secret = hmac.new(run.secret, b"gantry export recipe", hashlib.sha256).hexdigest()[:16]
    return {"profile": _digest(profile), "secret": secret,
            "plugins": _digest([__version__, sorted(plugins)])}


def differences(old: dict[str, Any], new: dict[str, str]) -> list[str]:
    """Which parts of a recorded recipe differ from ``new`` (``profile``, ``secret``...)."""
    recorded = old.get("parts") or {}
    return [part for part in ("profile", "secret", "plugins") if recorded.get(part) != new[part]]


def latest_recipe(events: Any, destination: str) -> dict[str, Any] | None:
    """The last recipe recorded for ``destination`` in an audit log."""
    found = None
    for event in events:
        if event.kind == EVENT and (event.detail or {}).get("destination") == destination:
            found = event.detail
    return found
