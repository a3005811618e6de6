"""The export gate finds identifiers in bytes and paths, in any case and name order, reports
where and what kind but never the value, and ignores pixel data by design."""

from __future__ import annotations

import io
import pickle
import time

from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from gantry.deid.gate import find_leaks
from gantry.deid.identifiers import collect_identifiers
from gantry.deid.standalone import patient_key
from gantry.testing.factory import make_instance


def _ids():
    ds = make_instance(patient=0)
    return ds, collect_identifiers(ds, patient_key(ds))


def test_finds_name_in_any_order_and_case():
    _, ids = _ids()
    for text in (b"ERMENGARDE QUILLFEATHER", b"quillfeather, ermengarde", b"xx Quillfeather"):
        leaks = find_leaks(b"\x00" * 200 + text + b"\x00" * 10, "out/a.dcm", ids)
        assert leaks and all(leak.kind in ("PatientName",) for leak in leaks)


def test_leak_never_holds_the_value():
    _, ids = _ids()
    leaks = find_leaks(b"..Quillfeather..MRN0007Q00000..", "Quillfeather/x.dcm", ids)
    assert {leak.where for leak in leaks} == {"bytes", "path"}
    for leak in leaks:
        assert "quillfeather" not in (str(leak) + repr(leak)).lower()


def test_original_file_fails_and_clean_output_passes(make_engine, deidentify, encoder):
    ds, ids = _ids()
    assert find_leaks(encoder(ds), "x.dcm", ids)
    deidentify(make_engine(), ds)
    assert find_leaks(encoder(ds), "GP-ABC/1.2.dcm", ids) == []


def test_pixel_data_is_not_scanned_but_everything_else_is(make_engine, deidentify, encoder):
    ds, ids = _ids()
    deidentify(make_engine(), ds)
    ds.PixelData = b"Quillfeather" + b"\x00" * (len(ds.PixelData) - 12)
    assert find_leaks(encoder(ds), "x.dcm", ids) == []
    ds.add_new(0x00204000, "LT", "note about quillfeather")
    leaks = find_leaks(encoder(ds), "x.dcm", ids)
    assert [(leak.tag, leak.kind) for leak in leaks] == [("(0020,4000)", "PatientName")]


def test_deflated_output_is_inflated(make_engine, deidentify):
    ds, ids = _ids()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    assert b"Quillfeather" not in data  # compressed: a naive scan would miss it
    assert find_leaks(data, "x.dcm", ids)


def test_identifier_set_pickles_and_is_fast():
    _, ids = _ids()
    clone = pickle.loads(pickle.dumps(ids))
    assert clone.values == ids.values
    data = bytes(range(256)) * 2048  # 0.5 MB of noise, no pixel element
    start = time.perf_counter()
    find_leaks(data, "x.dcm", clone)
    assert time.perf_counter() - start < 2.0


def test_short_tokens_must_stand_alone():
    ds = Dataset()
    ds.PatientName = "Li^Bo"
    ds.PatientID = "A12"
    ids = collect_identifiers(ds)
    assert find_leaks(b"CALIBRATION A123 A12 ", "x", ids)  # standalone A12 found
    assert not find_leaks(b"CALIBRATION A123 XA12", "x", ids)


# -- locating the pixel data of large files ------------------------------------------------
def _searched_span(data: bytes):
    """The span the search from the end finds (the gate's way for small files)."""
    from gantry.deid import gate

    for marker, big in ((gate._PIXEL_LE, False), (gate._PIXEL_BE, True)):
        pos = data.rfind(marker)
        while pos >= 0:
            span = gate._value_span(data, pos, big)
            if span is not None:
                return span
            pos = data.rfind(marker, 0, pos)
    return None


def _encoded(ds) -> bytes:
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_walked_pixel_span_is_the_searched_one_on_well_formed_files():
    import os
    from pathlib import Path

    from gantry.deid.gate import _walked_pixel_span
    from gantry.testing.factory import bundled_test_files, make_instance

    blobs = [_encoded(make_instance(rows=256, cols=256, instance=i)) for i in range(3)]
    blobs += [Path(p).read_bytes() for p in bundled_test_files("*.dcm")
              if os.path.getsize(p) < 8 << 20]
    walked = 0
    for data in blobs:
        span = _walked_pixel_span(data)
        if span is not None:
            walked += 1
            assert span == _searched_span(data)
    assert walked >= 10


def test_walked_pixel_span_is_not_fooled_by_a_tag_inside_the_pixels():
    import numpy as np

    from gantry.deid.gate import pixel_span
    from gantry.testing.factory import make_instance

    ds = make_instance(rows=256, cols=256)
    pixels = np.zeros(256 * 256, dtype=np.uint16).tobytes()
    fake = b"\xe0\x7f\x10\x00OW\x00\x00" + (16).to_bytes(4, "little")  # a Pixel Data header
    pixels = pixels[:1000] + fake + pixels[1000 + len(fake):]
    ds.PixelData = pixels
    data = _encoded(ds)
    assert len(data) > 65536
    true_start = data.index(pixels)
    assert pixel_span(data) == (true_start, true_start + len(pixels))
    assert _searched_span(data) != pixel_span(data)  # the search alone is fooled


def _encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_the_automaton_pass_never_changes_what_the_gate_finds(monkeypatch):
    """The Aho-Corasick pass only skips the pattern where no value occurs at all: with it and
    without it the gate reports the same leaks, on originals (values everywhere, non-ASCII
    ones in UTF-8 and Latin-1 too) and on text where a value stands inside a longer word."""
    from gantry.deid.identifiers import IdentifierSet

    ds, ids = _ids()
    assert ids.lower_bytes_scanner() is not None
    ids.add("Müller", "PatientName")
    samples = [
        _encoded(ds),
        b"\x00" * 64 + "dr. müller".encode() + b"\x00" * 8,
        b"\x00" * 64 + "M\xdcLLER".encode("latin-1").lower() + b"\x00" * 8,
        b"\x00" * 64 + b"xquillfeatherx ermengardes 1" + b"\x00" * 8,
        b"\x00" * 64 + b"nothing identifying here" + b"\x00" * 8,
    ]
    with_pass = [find_leaks(data, "", ids) for data in samples]
    monkeypatch.setattr(IdentifierSet, "lower_bytes_scanner", lambda self: None)
    without = [find_leaks(data, "", ids) for data in samples]
    assert with_pass == without
    assert with_pass[0] and with_pass[1] and not with_pass[4]


def test_the_gate_works_without_pyahocorasick(monkeypatch):
    import builtins

    from gantry.deid import identifiers

    real_import = builtins.__import__

    def no_ahocorasick(name, *args, **kwargs):
        if name == "ahocorasick":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    identifiers._scanner.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_ahocorasick)
    try:
        ds, ids = _ids()
        assert ids.lower_bytes_scanner() is None
        assert find_leaks(_encoded(ds), "", ids)
    finally:
        monkeypatch.undo()
        identifiers._scanner.cache_clear()


def test_the_automaton_pass_never_changes_what_text_matching_finds(monkeypatch):
    """``IdentifierSet.matches`` skips its pattern where no value's literal occurs: the same
    values are found with and without that pass, in paths, in text where a value stands
    inside a longer word, next to UIDs, and with a non-ASCII value in the set."""
    from gantry.deid.identifiers import IdentifierSet

    _ds, ids = _ids()
    texts = ["GP-ZY7T4AEPXQUC/2.25.1/2.25.2/2.25.3.dcm", "Quillfeather Ermengarde",
             "xquillfeatherx ermengardes 1", "nothing identifying here", "QUILLFEATHER",
             "seen by dr quillfeather on 20190314", ""]
    texts += [f"ref {uid} and {uid}.5" for uid in ids.uids()[:2]]
    plain = IdentifierSet(values=dict(ids.values))
    plain.add("Müller", "PatientName")
    texts.append("dr. MÜLLER")
    for identifiers in (ids, plain):
        with_pass = [identifiers.matches(t) for t in texts]
        assert any(with_pass)
        with monkeypatch.context() as m:
            m.setattr(IdentifierSet, "lower_bytes_scanner", lambda self: None)
            without = [identifiers.matches(t) for t in texts]
        assert with_pass == without
