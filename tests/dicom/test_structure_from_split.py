"""The structure check of an explicit VR little endian file walks its top level from the byte
layer's element spans (the split the header reader and the byte pass share) and enters only
sequences: the same layout, and the same error at the same offset, as the whole walk."""

from __future__ import annotations

import random

import pytest

from gantry.dicom import structure
from gantry.dicom.elements import forget_split
from gantry.testing import fuzz, hostile
from gantry.testing.factory import make_instance


def _outcome(data: bytes, *, whole: bool) -> tuple:
    forget_split()
    try:  # (a visit list makes check() take the whole walk)
        layout = structure.check(data, visit=[] if whole else None)
    except structure.DicomFormatError as exc:
        return type(exc).__name__, exc.offset, exc.reason
    return ("ok", layout.transfer_syntax, layout.dataset_start, layout.pixels, layout.depth,
            layout.charset)


def _cases() -> list[bytes]:
    good = hostile.encode(make_instance(patient=0))
    cases = [good, hostile.nested(8, undefined=True), hostile.nested(8, undefined=False),
             hostile.nested(70), hostile.unclosed_sequence(), hostile.unknown_vr(),
             hostile.short_pixel_data(), hostile.cut_into_pixel_header(), hostile.long_sequence(3),
             hostile.lying_ut_length(), hostile.swallowing_length(),
             hostile.swallowing_length(0x00100010, 40)]
    for seed in ("explicit-le", "nested", "utf8"):  # every element given a VR not its own
        for at in range(21):
            for vr in ("UT", "UN", "SQ", "OB", "SS"):
                cases.append(fuzz.build({"seed": seed, "ops": [["vr", at / 20, vr]],
                                         "archive": None})[1])
    rng = random.Random(25)
    for _ in range(150):
        cut = rng.randrange(len(good) + 1)
        cases.append(good[:cut])
        flipped = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(132, len(good))] = rng.randrange(256)
        cases.append(bytes(flipped))
    return cases


def test_the_split_path_agrees_with_the_whole_walk():
    cases = _cases()
    outcomes = [(_outcome(c, whole=True), _outcome(c, whole=False)) for c in cases]
    assert all(whole == split for whole, split in outcomes)
    assert sum(whole[0] == "ok" for whole, _ in outcomes) > 10  # both kinds were tried
    assert sum(whole[0] != "ok" for whole, _ in outcomes) > 10


@pytest.mark.parametrize("undefined", [True, False])
def test_a_well_formed_file_is_checked_from_its_spans(monkeypatch, undefined):
    walked: list[int] = []
    real = structure._walk

    def spy(data, start, *args):
        walked.append(start)
        return real(data, start, *args)

    monkeypatch.setattr(structure, "_walk", spy)
    data = hostile.nested(3, undefined=undefined)
    forget_split()
    layout = structure.check(data)
    assert layout.depth == 3
    start = structure._file_meta(data)[0]
    assert walked and start not in walked  # only the sequences were walked, not the top level
