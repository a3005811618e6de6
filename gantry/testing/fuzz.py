"""A mutation fuzzer for the whole run: hostile variants of valid files, each de-identified.

A *recipe* (plain JSON: a seed name and a list of mutations) builds one mutant from a valid
file of :mod:`gantry.testing.factory` — cut short, a length field or VR rewritten, bytes
flipped or inserted, the character set or transfer syntax changed, sequences nested, the
result put in a zip archive (duplicated, corrupt, encrypted, cut) — so a crasher is kept as
its recipe and rebuilt by the test, never shipped as an opaque file. :func:`run_mutant`
de-identifies one mutant in a fresh session and checks what must hold for every input:

* no exception escapes the run (no traceback), within a per-file time limit (no hang), with
  the process's peak memory under a bound;
* every input is accounted for: ingested, rejected or skipped, each reason one line;
* what is written is complete (its input was whole: :func:`gantry.dicom.structure.check`
  passes on it, the output passes too and keeps the input's pixel data length) and clean
  (the export gate ran on it; no planted token in its bytes).

``tests/hostile/test_fuzz_hostile.py`` runs a bounded budget in CI; ``make fuzz`` (``python
-m gantry.testing.fuzz --minutes 30``) runs longer and writes each crasher's recipe to
``tests/hostile/crashers/``, which the regression test replays.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import resource
import signal
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from gantry.testing import hostile

#: Seconds one mutant may take (ingest and export of one small file).
TIME_LIMIT = 20.0
#: Peak resident memory of the fuzzing process, in bytes, that no mutant may push past.
MEMORY_LIMIT = 1536 * 1024 * 1024
SECRET = bytes(range(32))
SEEDS = ("explicit-le", "implicit-le", "explicit-be", "deflated", "nested", "encapsulated",
         "utf8")
SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
            "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5",
            "1.2.3.4.5.6.7", "")
CHARSETS = ("ISO 2022 IR 87", "\\ISO 2022 IR 87", "ISO_IR 192", "GB18030", "ISO_IR 13",
            "ISO 2022 IR 6\\ISO 2022 IR 149", "UNKNOWN_CS", "ISO_IR 100\\ISO_IR 144", "",
            "\\\\\\")
VRS = ("XX", "SQ", "UN", "OB", "OW", "UT", "PN", "DA", "US", "FD", "AT", "  ", "\x00\x00",
       "ox")
LENGTHS = (0, 1, 2, 3, 7, 0xFF, 0xFFFF, 0xFFFE, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE,
           0xFFFFFFFF)
INSERTS = ("feff00e0ffffffff", "feff0de000000000", "feffdde000000000", "feff00e008000000",
           "0800050043530000", "e07f1000", "4000" + "30a7" + "5351" + "0000" + "ffffffff")
ARCHIVES = ("plain", "duplicate", "bad-crc", "encrypted", "truncated", "bomb")


class MutantTimeout(Exception):
    """A mutant took longer than :data:`TIME_LIMIT`."""


class Violation(AssertionError):
    """A mutant broke one of the rules (see the module docstring)."""


# ------------------------------------------------------------------------------- seeds
@cache
def seed(name: str) -> bytes:
    """The valid file a recipe starts from."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ImplicitVRLittleEndian,
        JPEGBaseline8Bit,
    )

    from gantry.testing.factory import make_instance

    if name == "explicit-le":
        return hostile.valid_file()
    if name == "nested":
        return hostile.nested(6)
    if name == "utf8":
        ds = make_instance(patient=1)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName = "Quillfeather^Ermengärde"
        return hostile.encode(ds)
    ds = make_instance(patient=2)
    syntax = {"implicit-le": ImplicitVRLittleEndian, "explicit-be": ExplicitVRBigEndian,
              "deflated": DeflatedExplicitVRLittleEndian,
              "encapsulated": JPEGBaseline8Bit}[name]
    ds.file_meta.TransferSyntaxUID = syntax
    if name == "encapsulated":
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0" + bytes(60) + b"\xff\xd9"])
        ds["PixelData"].VR = "OB"
    return hostile.encode(ds)


# ------------------------------------------------------------------------------- recipes
def recipes() -> Any:
    """The Hypothesis strategy of recipes."""
    from hypothesis import strategies as st

    frac = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
    op = st.one_of(
        st.tuples(st.just("truncate"), frac),
        st.tuples(st.just("length"), frac, st.one_of(st.sampled_from(LENGTHS),
                                                     st.integers(0, 0xFFFFFFFF))),
        st.tuples(st.just("vr"), frac, st.one_of(
            st.sampled_from(VRS),
            st.text(st.characters(min_codepoint=0, max_codepoint=255), min_size=2,
                    max_size=2))),
        st.tuples(st.just("byte"), frac, st.integers(0, 255)),
        st.tuples(st.just("insert"), frac, st.sampled_from(INSERTS)),
        st.tuples(st.just("charset"), st.sampled_from(CHARSETS)),
        st.tuples(st.just("syntax"), st.sampled_from(SYNTAXES)),
        st.tuples(st.just("nest"), st.integers(1, 300)),
    )
    return st.fixed_dictionaries({
        "seed": st.sampled_from(SEEDS),
        "ops": st.lists(op.map(list), max_size=4),
        "archive": st.one_of(st.none(), st.sampled_from(ARCHIVES)),
    })


def build(recipe: dict[str, Any]) -> tuple[str, bytes]:
    """``(file name, bytes)`` of the mutant a recipe describes."""
    data = seed(recipe["seed"])
    for op in recipe["ops"]:
        data = _apply(data, op)
    archive = recipe.get("archive")
    if archive is None:
        return "mutant.dcm", data
    if archive == "plain":
        return "mutant.zip", hostile.zip_of([("a.dcm", data)])
    if archive == "duplicate":
        return "mutant.zip", hostile.zip_of([("a.dcm", data), ("a.dcm", seed("explicit-le"))])
    if archive == "bad-crc":
        return "mutant.zip", hostile.bad_crc_zip(data)
    if archive == "encrypted":
        return "mutant.zip", hostile.encrypted_zip(data)
    if archive == "bomb":
        return "mutant.zip", hostile.zip_of([("a.dcm", data)]) if len(data) % 2 else \
            hostile.zip_bomb(64 << 20)
    return "mutant.zip", hostile.truncated_zip([("a.dcm", data), ("b.dcm", data)])


def _offsets(data: bytes) -> list[tuple[int, int]]:
    """Element headers of ``data`` as far as it is well formed (where lengths and VRs are)."""
    from gantry.dicom.errors import DicomFormatError
    from gantry.dicom.structure import check

    found: list[tuple[int, int]] = []
    try:
        check(data, visit=found)
    except (DicomFormatError, ValueError, IndexError):
        pass
    return found


def _apply(data: bytes, op: list[Any]) -> bytes:
    import struct

    kind = op[0]
    if kind == "truncate":
        return data[:int(op[1] * len(data))]
    if kind == "byte":
        if not data:
            return data
        pos = min(int(op[1] * len(data)), len(data) - 1)
        return data[:pos] + bytes([op[2]]) + data[pos + 1:]
    if kind == "insert":
        pos = int(op[1] * len(data))
        return data[:pos] + bytes.fromhex(op[2]) + data[pos:]
    if kind in ("length", "vr"):
        heads = _offsets(data)
        if not heads:
            return data
        pos, size = heads[min(int(op[1] * len(heads)), len(heads) - 1)]
        if kind == "vr":
            return data[:pos + 4] + op[2].encode("latin-1")[:2].ljust(2, b" ") + data[pos + 6:]
        long_vr = data[pos + 4:pos + 6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ",
                                            b"UC", b"UN", b"UR", b"UT", b"SV", b"UV")
        at = pos + 6 if size == 2 else pos + 8 if long_vr else pos + 4
        big = data[pos:pos + 2] != b"\x02\x00" and b"1.2.840.10008.1.2.2\x00" in data[132:400]
        fmt = (">" if big else "<") + ("L" if size == 4 else "H")
        value = op[2] if size == 4 else op[2] & 0xFFFF
        return data[:at] + struct.pack(fmt, value) + data[at + size:]
    if kind == "charset":
        return hostile.charset_of(data, op[1])
    if kind == "syntax":
        return _with_syntax(data, op[1])
    if kind == "nest":
        return hostile.nested(op[1], undefined=bool(op[1] % 2)) if data[128:132] == b"DICM" \
            else data
    raise ValueError(f"unknown mutation {kind!r}")


def _with_syntax(data: bytes, uid: str) -> bytes:
    """``data`` with its file meta's transfer syntax UID replaced (the data set as it is)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_file_meta_info
    from pydicom.filewriter import write_file_meta_info

    if data[128:132] != b"DICM":
        return data
    try:
        meta = read_file_meta_info(io.BytesIO(data))
        end = 132 + 12 + int(meta.FileMetaInformationGroupLength)
    except Exception:
        return data
    new = FileMetaDataset(meta)
    new.TransferSyntaxUID = uid
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    try:
        write_file_meta_info(fp, new, enforce_standard=False)
    except Exception:
        return data
    return data[:132] + fp.getvalue() + data[end:]


# ------------------------------------------------------------------------------- running
@dataclass
class Outcome:
    """What became of one mutant."""

    name: str
    inputs: int = 0
    exported: int = 0
    rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _timeout(_signum: int, _frame: Any) -> None:
    raise MutantTimeout(f"a mutant took more than {TIME_LIMIT:g} s")


def run_mutant(recipe: dict[str, Any], root: Path) -> Outcome:
    """De-identify the mutant of ``recipe`` under ``root`` and check every rule; raise
    :class:`Violation` (or :class:`MutantTimeout`) when one is broken."""
    from gantry.dicom.errors import DicomFormatError
    from gantry.dicom.structure import check
    from gantry.session import Session

    name, data = build(recipe)
    src, out = root / "in", root / "out"
    src.mkdir(parents=True)
    (src / name).write_bytes(data)
    outcome = Outcome(name)
    started = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        with Session("memory://", workers=1, secret=SECRET) as session:
            ingest, export = session.deidentify(src, out)
            store = session.store
            rejections = list(store.iter_rejected())
            exports = list(store.iter_exports())
    except MutantTimeout:
        raise
    except Exception as exc:
        raise Violation(f"{type(exc).__name__} escaped the run: {exc}") from exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    outcome.seconds = time.perf_counter() - started
    outcome.inputs = (ingest.done + ingest.rejected + ingest.skipped + ingest.duplicates +
                      ingest.conflicts)
    outcome.exported = export.done
    outcome.rejected = [r.reason for r in rejections]
    outcome.failed = list(export.errors)
    for reason in outcome.rejected + outcome.failed:
        if not reason.strip() or "\n" in reason or "Traceback" in reason:
            raise Violation(f"a reason that is not one line: {reason!r}")
    if outcome.inputs == 0:
        raise Violation("the input was neither ingested, rejected nor skipped")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if peak > MEMORY_LIMIT:
        raise Violation(f"peak memory {peak >> 20} MB past {MEMORY_LIMIT >> 20} MB")
    if exports:
        members = _inputs_of(name, data)
        for record in exports:
            written = Path(record.path)
            if not written.is_absolute():
                written = out / record.path
            body = written.read_bytes()
            try:
                layout = check(body)
            except DicomFormatError as exc:
                raise Violation(f"an output is not whole: {exc}") from None
            if not any(_whole_like(member, layout) for member in members):
                raise Violation("an instance was written from an input that is not whole "
                                "(or lost its pixel data)")
            for token in _TOKENS:
                if token.encode() in body:
                    raise Violation(f"planted identifier {token!r} written")
    return outcome


_TOKENS = ("Quillfeather", "Harrowgate", "Pembertonia", "MRN0007Q", "Saint Ignatius",
           "Blackwood", "Nightingale")


def _inputs_of(name: str, data: bytes) -> list[bytes]:
    """The DICOM inputs inside a mutant (itself, or an archive's members that read)."""
    if not name.endswith(".zip"):
        return [data]
    found = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                try:
                    found.append(zf.read(info))
                except Exception:
                    continue
    except Exception:
        pass
    return found


def _whole_like(data: bytes, written: Any) -> bool:
    """Whether ``data`` is whole and its pixel data (if any) kept its length in ``written``."""
    from gantry.dicom.errors import DicomFormatError
    from gantry.dicom.structure import check

    try:
        layout = check(data)
    except DicomFormatError:
        return False
    if layout.pixels is None:
        return True
    return written.pixels is not None and (layout.pixels[2] == written.pixels[2] or
                                           0xFFFFFFFF in (layout.pixels[2], written.pixels[2]))


def recipe_id(recipe: dict[str, Any]) -> str:
    """A short stable name for a recipe."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def fuzz(examples: int, on_mutant: Callable[[dict[str, Any]], None], *,
         seed_value: int | None = None) -> None:
    """Run Hypothesis over :func:`recipes` for ``examples`` mutants (shrinking a failure)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hyp_seed

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(recipes())
    def run(recipe: dict[str, Any]) -> None:
        on_mutant(recipe)

    if seed_value is not None:
        run = hyp_seed(seed_value)(run)
    run()


def main(argv: list[str] | None = None) -> int:
    """``python -m gantry.testing.fuzz --minutes N``: fuzz until the time is up; write each
    crasher's recipe to ``--crashers``; print how many mutants ran and what was found."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--crashers", default="tests/hostile/crashers")
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    deadline = time.monotonic() + args.minutes * 60
    counts = {"mutants": 0, "exported": 0, "rejected": 0, "findings": 0}
    failing: list[dict[str, Any]] = []
    batch = 0
    with tempfile.TemporaryDirectory(prefix="gantry-fuzz-") as tmp:
        def one(recipe: dict[str, Any]) -> None:
            if time.monotonic() > deadline:
                return
            counts["mutants"] += 1
            work = Path(tmp) / str(counts["mutants"])
            try:
                outcome = run_mutant(recipe, work)
            except (Violation, MutantTimeout):
                failing.append(recipe)
                raise
            finally:
                import shutil

                shutil.rmtree(work, ignore_errors=True)
            counts["exported"] += outcome.exported > 0
            counts["rejected"] += bool(outcome.rejected or outcome.failed)

        while time.monotonic() < deadline:
            batch += 1
            failing.clear()
            try:
                fuzz(args.batch, one, seed_value=batch * 7919 + int(time.time()))
            except (Violation, MutantTimeout) as exc:
                recipe = failing[-1] if failing else None
                counts["findings"] += 1
                if recipe is not None:
                    folder = Path(args.crashers)
                    folder.mkdir(parents=True, exist_ok=True)
                    path = folder / f"{recipe_id(recipe)}.json"
                    path.write_text(json.dumps({"recipe": recipe, "found": str(exc)[:300]},
                                               indent=1) + "\n")
                    print(f"finding: {str(exc)[:200]} -> {path}", flush=True)
            print(f"batch {batch}: {counts}", flush=True)
    print(f"fuzz: {counts['mutants']} mutants in {args.minutes:g} min, "
          f"{counts['exported']} exported, {counts['rejected']} rejected, "
          f"{counts['findings']} findings", flush=True)
    return 1 if counts["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
