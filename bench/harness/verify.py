"""Check a tool's output: file count, every file parseable, planted identifiers absent, pixels kept.

A tool that is fast but leaves identifiers behind, drops files or mangles images is marked as
wrong in the report, whatever its speed.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

_PIXEL_TAG = b"\xe0\x7f\x10\x00"


@dataclass
class Check:
    """What the checker found in one output folder."""

    expected: int
    dicom_files: int = 0
    other_files: int = 0
    unparseable: int = 0
    leaking_files: int = 0
    leaked_tokens: Counter = field(default_factory=Counter)
    pixels_changed: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file is there, parses, keeps its pixels and leaks nothing."""
        return (self.dicom_files == self.expected and not self.unparseable
                and not self.leaking_files and not self.pixels_changed)

    def verdict(self) -> str:
        """A short verdict for the table: ``ok`` or what is wrong."""
        if self.ok:
            return "ok"
        problems = []
        if self.dicom_files != self.expected:
            problems.append(f"{self.dicom_files}/{self.expected} files")
        if self.unparseable:
            problems.append(f"{self.unparseable} unparseable")
        if self.leaking_files:
            problems.append(f"LEAKS in {self.leaking_files} files "
                            f"({len(self.leaked_tokens)} distinct identifiers)")
        if self.pixels_changed:
            problems.append(f"{self.pixels_changed} images changed")
        return "WRONG: " + "; ".join(problems)

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "ok": self.ok, "verdict": self.verdict(), "expected": self.expected,
            "dicom_files": self.dicom_files, "other_files": self.other_files,
            "unparseable": self.unparseable, "leaking_files": self.leaking_files,
            "leaked_tokens": dict(self.leaked_tokens.most_common(20)),
            "pixels_changed": self.pixels_changed, "examples": self.examples[:5],
        }


def _scan_regions(data: bytes) -> bytes:
    """The file without its native Pixel Data value (random pixels cannot hide text anyway,
    but skipping them keeps a 1 GB scan fast)."""
    pos = data.find(_PIXEL_TAG, 132)
    if pos < 0 or pos + 12 > len(data):
        return data
    if data[pos + 4:pos + 6] in (b"OW", b"OB"):
        length = struct.unpack_from("<I", data, pos + 8)[0]
        start = pos + 12
    else:
        length = struct.unpack_from("<I", data, pos + 4)[0]
        start = pos + 8
    if length == 0xFFFFFFFF or start + length > len(data):
        return data
    return data[:pos] + data[start + length:]


def _check_file(args: tuple[str, bytes, bool]) -> tuple[str, bool, bool, list[str], str | None]:
    """(path, is_dicom, parsed, leaked tokens, pixel digest) for one output file."""
    import pydicom

    path, pattern, want_pixels = args
    data = Path(path).read_bytes()
    is_dicom = len(data) > 132 and data[128:132] == b"DICM"
    leaks = sorted({m.group(0).decode("latin-1").lower()
                    for m in re.finditer(pattern, _scan_regions(data), re.IGNORECASE)})
    if not is_dicom:
        return path, False, False, leaks, None
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.get("PixelData")
        digest = hashlib.sha256(pixels).hexdigest() if (want_pixels and pixels) else None
        _ = ds.get("PatientID")
    except Exception:
        return path, True, False, leaks, None
    return path, True, True, leaks, digest


def check_output(out: Path, *, expected: int, tokens: tuple[str, ...],
                 pixel_digests: tuple[str, ...], jobs: int = 2) -> Check:
    """Check every file under ``out`` against the corpus it was made from."""
    check = Check(expected=expected)
    files = sorted(str(p) for p in out.rglob("*") if p.is_file()) if out.exists() else []
    pattern = b"|".join(re.escape(t.encode("latin-1")) for t in sorted(tokens, key=len,
                                                                       reverse=True))
    digests: Counter = Counter()
    with ProcessPoolExecutor(jobs) as pool:
        work = ((f, pattern, True) for f in files)
        for path, is_dicom, parsed, leaks, digest in pool.map(_check_file, work, chunksize=32):
            if is_dicom:
                check.dicom_files += 1
                if not parsed:
                    check.unparseable += 1
                    check.examples.append(f"unparseable: {path}")
                if digest:
                    digests[digest] += 1
            else:
                check.other_files += 1
            if leaks:
                check.leaking_files += 1
                check.leaked_tokens.update(leaks)
                if len(check.examples) < 5:
                    check.examples.append(f"{path}: {', '.join(leaks[:4])}")
    if check.dicom_files and check.dicom_files == expected:
        missing = Counter(pixel_digests) - digests
        check.pixels_changed = sum(missing.values())
    return check
