"""The ``.nii.gz`` compressor: ISA-L when ``isal`` is installed, zlib-ng otherwise; both write
one standard gzip member holding the same ``.nii`` bytes, and equal volumes give equal files."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import pytest
from gantry_nifti.api import Volume
from gantry_nifti.nifti import nifti_bytes


def _volume() -> Volume:
    rng = np.random.default_rng(3)
    smooth = np.add.outer(np.arange(40), np.arange(36))[:, :, None] * np.ones(12)
    array = (smooth * 9 + rng.integers(0, 30, smooth.shape)).astype(np.int16)
    return Volume(array=np.asfortranarray(array), affine=np.diag([0.9, 0.9, 3.0, 1.0]),
                  frames=[])


def test_both_compressors_write_the_same_nifti(monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("isal", reason="the test extra installs isal")
    volume = _volume()
    fast = nifti_bytes(volume)
    assert nifti_bytes(volume) == fast  # equal volumes, equal bytes
    monkeypatch.setitem(sys.modules, "isal", None)  # as if it were not installed
    fallback = nifti_bytes(volume)
    assert fast != fallback  # (two compressors ran)
    plain = nifti_bytes(volume, compress=False)
    assert gzip.decompress(fast) == gzip.decompress(fallback) == plain
    assert fast[:4] == b"\x1f\x8b\x08\x00" and fast[4:8] == b"\0\0\0\0"  # no name, no time
    assert len(fast) < len(plain) * 0.8
