"""The folder ingestor lists files as ``os.walk`` visits them, with resolved paths."""

from __future__ import annotations

import os
from pathlib import Path

from gantry.builtins.folder_ingest import discover


def test_discover_order_links_and_resolved_paths(tmp_path: Path):
    data = tmp_path / "data"
    (data / "b" / "deep").mkdir(parents=True)
    (data / "a").mkdir()
    for rel in ("z.dcm", "a/1.dcm", "b/2.dcm", "b/deep/3.dcm"):
        (data / rel).write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.dcm").write_bytes(b"o")
    os.symlink(outside, data / "linked-folder")  # not followed, like os.walk: listed
    os.symlink(outside / "o.dcm", data / "a" / "linked.dcm")  # resolved to its target
    os.symlink(tmp_path / "missing", data / "broken")  # refused, with the reason
    os.symlink(data, tmp_path / "via-link")

    found = list(discover(str(tmp_path / "via-link")))
    refused = {Path(i.source).name: (i.refused, i.refused_as) for i in found if i.refused}
    assert refused == {
        "broken": (f"dangling link (its target {str(tmp_path / 'missing')!r} does not exist)",
                   "rejected"),
        "linked-folder": ("link to a folder; not followed", "skipped")}
    items = [i for i in found if not i.refused]
    real = data.resolve()
    assert [i.source for i in items] == [
        str(real / "z.dcm"), str(real / "a" / "1.dcm"), str(outside.resolve() / "o.dcm"),
        str(real / "b" / "2.dcm"), str(real / "b" / "deep" / "3.dcm")]
    assert [i.display for i in items][2] == str(tmp_path / "via-link" / "a" / "linked.dcm")
    assert all(i.size == 1 for i in items)
