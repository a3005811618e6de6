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


def test_a_sink_that_does_not_take_streamed_files_gets_them_joined():
    from gantry.dicom.streamed import Streamed, sha256_hex
    from gantry.pipeline import InstanceResult, _write

    source = bytes(range(256)) * 8
    streamed = Streamed(b"head" + b"\x00\x08\x00\x00", memoryview(source)[:2048], b"tail")
    given = []

    class Joined:
        def write(self, path, data, dataset, context):  # type: ignore[no-untyped-def]
            given.append(data)

    class Pieces(Joined):
        takes_streamed = True

    assert _write([Joined(), Pieces(), Joined()], ["a", "b", "c"], streamed, None, None,
                  InstanceResult("1.2"))
    whole = b"head\x00\x08\x00\x00" + source + b"tail"
    assert given[0] == whole and given[2] is given[0]  # (joined once)
    assert given[1] is streamed and len(streamed) == len(whole)
    assert sha256_hex(streamed) == sha256_hex(whole)
    assert streamed.scanned() == b"head\x00\x00\x00\x00tail"
