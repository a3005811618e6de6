"""Files Gantry itself writes beside its outputs (manifests, reports, checksums, partial writes),
told from inputs by their name *and* their content.

``gantry deidentify OUT1 OUT2`` must take Gantry's own output as input: the DICOM files in it
are inputs, the manifests and reports beside them are not. A file is Gantry's own when its
base name matches one of an :class:`OwnFile`'s patterns *and* its first bytes look as that
writer writes them; a DICOM file named ``manifest.json`` is still DICOM (it is read as any
input, and only a file that is not DICOM is looked at here). Such a file is skipped as an
index, as a DICOMDIR is (stage ``index``: not a rejection, listed with the reason by
``gantry status --rejected``). Each writer declares its files: the kernel's below, a plugin's
with the ``gantry_own_files`` hook.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Bytes read from the start of a file to tell whether it is Gantry's own.
HEAD_BYTES = 4096


@dataclass(frozen=True)
class OwnFile:
    """One kind of file Gantry writes: what it is (``"export manifest"``), the base names it
    is written under (``fnmatch`` patterns), and whether the first :data:`HEAD_BYTES` of a
    file look as its writer writes them."""

    what: str
    names: tuple[str, ...]
    looks_like: Callable[[bytes], bool]

    def named(self, name: str) -> bool:
        """Whether ``name`` (a base name) is one this kind is written under."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.names)


def base_name(source: str) -> str:
    """The base name of an input: a path's last part, a zip member's (``a.zip!x/y``) too."""
    return source.rstrip("/").replace("!", "/").rsplit("/", 1)[-1]


def own_file_kind(kinds: Iterable[OwnFile], name: str,
                  read_head: Callable[[], bytes]) -> OwnFile | None:
    """The kind of Gantry's own file ``name`` is (``read_head`` gives its first bytes; called
    only when the name matches a kind), or ``None``: not one (or its bytes cannot be read)."""
    named = [kind for kind in kinds if kind.named(name)]
    if not named:
        return None
    try:
        head = read_head()
    except (OSError, ValueError):
        return None
    return next((kind for kind in named if kind.looks_like(head)), None)


def own_file_reason(kind: OwnFile) -> str:
    """The reason an input that is Gantry's own file is skipped."""
    return f"Gantry's own {kind.what} (written beside an export, not an input); skipped"


def _partial_dicom(head: bytes) -> bool:
    """A DICOM file cut short: what an interrupted write leaves (its preamble and prefix, or
    less than that)."""
    return (len(head) < 132 and not head.strip(b"\x00")) or head[128:132] == b"DICM"


def _reason_note(head: bytes) -> bool:
    return head.startswith(b"source: ") and b"\nkind: " in head and b"\nreason: " in head


#: The files the kernel writes next to its outputs.
KERNEL_OWN_FILES = (
    # the DICOM sink writes each file as ``.gantry-NAME.PID.part`` first, then renames it
    OwnFile("partial write (an interrupted export's temporary file)",
            (".gantry-*.part",), _partial_dicom),
    # --quarantine DIR: a reason note beside each copy (the copies are inputs: read as such)
    OwnFile("quarantine note", ("*.reason.txt",), _reason_note),
)


__all__ = ["HEAD_BYTES", "KERNEL_OWN_FILES", "OwnFile", "base_name", "own_file_kind",
           "own_file_reason"]
