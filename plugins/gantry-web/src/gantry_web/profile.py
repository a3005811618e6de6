"""The console's profile: the one it was started with plus the zone rules reviewers accepted."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gantry import Session

_DIRS: dict[int, str] = {}


def overlay_profile(session: Session, base: str, rules: list[dict[str, Any]],
                    workdir: str | None = None) -> str:
    """Write a profile that ``extends`` ``base`` and adds ``rules`` to the ``gantry-pixels``
    zones (after the base's own), with ``pixel-zones`` in the redaction stack (right after the
    tag engine when the base lacks it). The file lives in a private temporary folder of this
    process (mode 0700) and holds no identifying value."""
    import yaml

    loaded = session.hooks  # the base profile is read again: the session may hold an overlay
    from gantry.api import load_run_profile

    profile = load_run_profile(base, loaded)
    pixels = dict((profile.plugins or {}).get("gantry-pixels", {}) or {})
    zones = list(pixels.get("zones", []) or []) + list(rules)
    redact = list(profile.redact)
    if "pixel-zones" not in redact:
        at = redact.index("ps315-tags") + 1 if "ps315-tags" in redact else len(redact)
        redact.insert(at, "pixel-zones")
    document = {"extends": [base], "name": f"{profile.name}+console-zones",
                "description": f"{profile.name} with zone rules accepted in gantry web",
                "redact": redact, "plugins": {"gantry-pixels": {**pixels, "zones": zones}}}
    folder = workdir or _DIRS.get(os.getpid())
    if folder is None:
        folder = _DIRS[os.getpid()] = tempfile.mkdtemp(prefix="gantry-web-")
    path = Path(folder) / "console-profile.yaml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return str(path)
