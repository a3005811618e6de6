"""The hostile-input fuzzer (``gantry.testing.fuzz``): its crashers replayed, and a bounded
run of fresh mutants (``GANTRY_FUZZ_EXAMPLES``, default 120; ``make fuzz`` runs for
minutes)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from gantry.testing import fuzz

CRASHERS = sorted((Path(__file__).parent / "crashers").glob("*.json"))


@pytest.mark.parametrize("path", CRASHERS, ids=[p.stem for p in CRASHERS])
def test_crasher_is_handled(tmp_path, path):
    case = json.loads(path.read_text())
    outcome = fuzz.run_mutant(case["recipe"], tmp_path)
    assert outcome.inputs >= 1


def test_recipes_build_what_they_say(tmp_path):
    from gantry.dicom.structure import check

    assert fuzz.build({"seed": "explicit-le", "ops": [], "archive": None})[1] == \
        fuzz.seed("explicit-le")
    for name in fuzz.SEEDS:  # every seed is whole
        check(fuzz.seed(name))
    cut = fuzz.build({"seed": "implicit-le", "ops": [["truncate", 0.5]], "archive": None})[1]
    assert len(cut) == len(fuzz.seed("implicit-le")) // 2
    name, archive = fuzz.build({"seed": "nested", "ops": [], "archive": "duplicate"})
    assert name == "mutant.zip" and archive[:4] == b"PK\x03\x04"


def test_a_violation_is_caught(tmp_path, monkeypatch):
    """The checks can fail: an output that is cut short is a violation."""
    from gantry.builtins import dicom_export

    real = dicom_export.DicomFolderSink.write

    def cut(self, path, data, dataset, context):  # type: ignore[no-untyped-def]
        return real(self, path, data[:-10], dataset, context)

    monkeypatch.setattr(dicom_export.DicomFolderSink, "write", cut)
    monkeypatch.setenv("GANTRY_BYTE_PASS", "0")
    with pytest.raises(fuzz.Violation, match="not whole"):
        fuzz.run_mutant({"seed": "explicit-le", "ops": [], "archive": None}, tmp_path)


@pytest.mark.slow
def test_fuzz_mutants(tmp_path):
    warnings.filterwarnings("ignore")
    examples = int(os.environ.get("GANTRY_FUZZ_EXAMPLES", "120"))
    ran = []

    def one(recipe):  # type: ignore[no-untyped-def]
        ran.append(recipe)
        fuzz.run_mutant(recipe, tmp_path / str(len(ran)))

    fuzz.fuzz(examples, one)
    assert len(ran) >= min(examples, 50)
