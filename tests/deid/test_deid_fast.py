"""The fast paths change nothing: raw elements left undecoded, the decode cache, the light
copies, the fast encoder, and the auditor's after-redaction contract."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement

from gantry.deid.audit import DeidAuditor
from gantry.deid.engine import header_copy
from gantry.deid.gate import find_leaks
from gantry.deid.identifiers import collect_identifiers
from gantry.deid.standalone import instance_context
from gantry.dicom.encode import dcmwrite_bytes, encode
from gantry.dicom.values import decoded
from gantry.testing.factory import bundled_test_files as get_testdata_files
from gantry.testing.factory import make_instance


def _files() -> list[str]:
    out = []
    for path in sorted(get_testdata_files()):
        name = Path(path).name
        if name.endswith((".dcm", "")) and "DICOMDIR" not in name and Path(path).is_file():
            out.append(path)
    return out


def _read(path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dcmread(path, force=True)


def _deidentify(engine, ds) -> bytes:
    ctx = instance_context(ds, engine.run)
    ctx.identifiers = collect_identifiers(ds, ctx.patient, profile=engine.profile)
    engine.apply(ds, ctx)
    return dcmwrite_bytes(ds)


def _factory_bytes(**kwargs) -> bytes:
    buf = io.BytesIO()
    make_instance(**kwargs).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("options", [(), ("retain-longitudinal-full-dates", "retain-uids"),
                                     ("retain-longitudinal-modified-dates",)])
def test_undecoded_elements_give_the_same_bytes(make_engine, options):
    """De-identifying a freshly read file (elements raw) and the same file with every element
    decoded first gives the same bytes: leaving kept elements raw is invisible."""
    engine = make_engine(options=options)
    compared = 0
    sources = [io.BytesIO(_factory_bytes(patient=p)) for p in range(2)] + _files()[:120]
    for source in sources:
        if isinstance(source, io.BytesIO):
            source.seek(0)
            first = _read(source)
            source.seek(0)
            second = _read(source)
        else:
            first, second = _read(source), _read(source)
        try:
            for _ in second.iterall():  # decode every element, as the engine once did
                pass
            a = _deidentify(engine, first)
            b = _deidentify(engine, second)
        except Exception:
            continue  # files pydicom cannot decode or write either way
        assert a == b, source
        compared += 1
    assert compared > 40


def test_decoded_matches_pydicom():
    ds = _read(io.BytesIO(_factory_bytes()))
    checked = 0
    for tag, raw in list(ds._dict.items()):
        if type(raw) is not RawDataElement:
            continue
        found = decoded(ds, raw)
        if found is None:
            continue
        value, _same = found
        assert value == ds[tag].value
        checked += 1
    assert checked > 10


def test_fast_encode_is_dcmwrite(make_engine):
    engine = make_engine()
    checked = 0
    sources = [io.BytesIO(_factory_bytes(patient=p, rows=32, cols=32)) for p in range(2)]
    for source in sources + _files()[:150]:
        ds = _read(source)
        try:
            ctx = instance_context(ds, engine.run)
            engine.apply(ds, ctx)
            clone = header_copy(ds)
            expected = dcmwrite_bytes(ds)
        except Exception:
            continue
        assert encode(clone) == expected, source
        checked += 1
    assert checked > 40


def test_header_copy_is_independent_and_shares_pixels(make_engine):
    engine = make_engine()
    ds = make_instance(rows=64, cols=64)
    before = dcmwrite_bytes(ds)
    clone = header_copy(ds)
    assert clone.PixelData is ds.PixelData  # shared, never copied
    engine.apply(clone, instance_context(clone, engine.run))
    assert dcmwrite_bytes(ds) == before
    assert str(clone.PatientName) != str(ds.PatientName)
    assert "PixelData" not in header_copy(ds, keep_pixels=False)


def test_plan_leaves_the_original_alone(make_engine):
    engine = make_engine()
    ds = make_instance()
    before = dcmwrite_bytes(ds)
    planned = engine.plan(ds, instance_context(ds, engine.run))
    assert planned and dcmwrite_bytes(ds) == before
    applied = engine.apply(ds, instance_context(ds, engine.run))
    assert planned == applied


def test_audit_after_redaction_reports_applied_changes(make_engine, monkeypatch):
    engine = make_engine()
    auditor = DeidAuditor(engine.run)
    ds = make_instance()
    ctx = instance_context(ds, engine.run)
    ctx.identifiers = collect_identifiers(ds, ctx.patient, profile=engine.profile)
    changes = engine.apply(ds, ctx)
    ctx.notes["applied_changes"] = list(changes)
    ctx.notes["redacted"] = True

    def no_copy(*_args, **_kwargs):
        raise AssertionError("the auditor must not plan again after redaction")

    monkeypatch.setattr("gantry.deid.engine.copy_dataset", no_copy)
    monkeypatch.setattr(auditor.engine, "apply", no_copy)
    findings = auditor.audit(ds, ctx)
    codes = [f.code for f in findings]
    assert codes.count("applied-changes") == 1
    summary = findings[codes.index("applied-changes")]
    assert summary.extra["count"] == len(changes) == sum(summary.extra["by_action"].values())
    assert "planned-change" not in codes
    assert "unknown-private-tag" in codes  # the original's private blocks, from the engine
    verdict = findings[-1]
    assert verdict.code == "verdict" and verdict.severity == "info"
    assert verdict.extra == {"remaining": 0, "changes": len(changes)}
    ds.ImageComments = "Quillfeather again"
    again = auditor.audit(ds, ctx)
    assert {f.code for f in again} >= {"phi-remaining", "verdict"}
    assert again[-1].severity == "error"
    monkeypatch.undo()
    assert find_leaks(encode(ds), "", ctx.identifiers)  # the comment leaks
    del ds.ImageComments
    assert not find_leaks(encode(ds), "", ctx.identifiers)


def test_fast_patterns_match_like_the_case_insensitive_ones():
    """The prefix-tree, case-sensitive patterns run on lower-cased ASCII text/bytes find
    exactly what the flat case-insensitive alternations find (boundaries included)."""
    import random

    from gantry.deid.identifiers import _compile_ascii, _compile_bytes, _compile_text

    rng = random.Random(7)
    alphabet = "ab1.-9 "
    for _ in range(800):
        groups: tuple[list[str], ...] = ([], [], [])
        for _ in range(rng.randint(1, 12)):
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 10))).strip()
            if len(value) < 3:
                continue
            group = 0 if len(value) < 8 else (
                1 if value[:1].isdigit() and value[-1:].isdigit() else 2)
            groups[group].append(value)
        key = tuple(tuple(sorted(set(g), key=lambda v: (-len(v), v))) for g in groups)
        flat, fast = _compile_text(key), _compile_ascii(key)
        flat_b, fast_b = _compile_bytes(key), _compile_bytes(key, False)
        for _ in range(4):
            text = "".join(rng.choice(alphabet + "AB") for _ in range(rng.randint(0, 40)))
            want = [(m.span(), m.group(0).lower()) for m in flat.finditer(text)] if flat else []
            got = [(m.span(), m.group(0)) for m in fast.finditer(text.lower())] if fast else []
            assert want == got, (key, text)
            data = text.encode()
            want = [(m.span(), m.group(0).lower()) for m in flat_b.finditer(data)] \
                if flat_b else []
            got = [(m.span(), m.group(0)) for m in fast_b.finditer(data.lower())] \
                if fast_b else []
            assert want == got, (key, text)
