"""Issue 20 (9): a large pixel value the profile keeps is in memory once, as read — never
copied whole into the output, a thumbnail, or a second buffer (``bench/large_object.py``
measures the peak resident memory of the commands)."""

from __future__ import annotations

import tracemalloc

import pytest

from gantry.dicom.structure import check
from gantry.session import Session
from gantry.testing.hostile import big_pixels

SECRET = bytes(range(32))
MB = 1024 * 1024
#: What the export may allocate besides the file's bytes (headers, records, one frame).
FIXED = 12 * MB


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big") / "in"
    folder.mkdir()
    return big_pixels(folder / "big.dcm", 48)


def _peak_of(run) -> int:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("how", ["deidentify", "export"])
def test_a_large_pixel_value_is_held_once(tmp_path, big_file, how):
    size = big_file.stat().st_size
    out = tmp_path / "out"
    with Session("memory://", workers=1, secret=SECRET) as session:
        if how == "deidentify":
            peak = _peak_of(lambda: session.deidentify(big_file.parent, out))
        else:
            assert session.ingest(big_file.parent).done == 1
            peak = _peak_of(lambda: session.export(out))
        (record,) = list(session.store.iter_exports())
    written = (out / record.path).read_bytes()
    assert check(written).pixels[2] == check(big_file.read_bytes()).pixels[2]
    assert len(written) == record.size
    assert peak < size + FIXED, f"peak {peak / MB:.0f} MB for a {size / MB:.0f} MB file"
