"""dicom3tools' ``dciodvfy``, an IOD validator independent of Gantry, for tests.

:func:`iod_errors` runs it on one file and returns its error lines, normalised so that the
same error reads the same before and after de-identification (values, UIDs and quoted strings
blanked; which attribute and module stay). :func:`introduced_errors` is what an output has that
its input did not. Warnings are not errors and are left out. Debian: ``apt-get install
dicom3tools``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

_KEEP = re.compile(r"(Element=|Module=|attribute |Macro=)<([^>]*)>")
_ANGLE = re.compile(r"<[^>]*>")
_QUOTED = re.compile(r'"[^"]*"')
_VALUES = re.compile(r"(values? (?:are|is)) .*$")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)+\b")
_UID_VALUE = re.compile(r"(UID\s*[=:]?\s*)[0-9.]+")


def available() -> bool:
    """Whether ``dciodvfy`` is on the ``PATH``."""
    return shutil.which("dciodvfy") is not None


def normalise(line: str) -> str:
    """One ``Error - ...`` line with its values blanked (``<>``), names of attributes and
    modules kept."""
    kept: list[str] = []

    def hold(match: re.Match[str]) -> str:
        kept.append(f"{match.group(1)}<{match.group(2)}>")
        return f"\x00{len(kept) - 1}\x00"

    text = _KEEP.sub(hold, line.strip())
    text = _ANGLE.sub("<>", text)
    text = _QUOTED.sub('""', text)
    text = _VALUES.sub(r"\1 ...", text)
    text = _UID_VALUE.sub(r"\1#", text)
    text = _NUMBER.sub("#", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def iod_errors(path: str | Path, *, timeout: float = 60.0) -> list[str]:
    """The normalised error lines ``dciodvfy`` prints for ``path`` (sorted)."""
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, timeout=timeout,
                          check=False)
    text = (done.stdout + done.stderr).decode("latin-1", "replace")
    return sorted(normalise(line) for line in text.splitlines() if line.startswith("Error"))


def introduced_errors(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """The errors of ``after`` that ``before`` does not have (counted: one more of the same
    error is one introduced)."""
    extra = Counter(after) - Counter(before)
    return sorted(extra.elements())
