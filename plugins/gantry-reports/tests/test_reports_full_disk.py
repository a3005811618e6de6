"""A full disk while the manifests are written: no temporary file is left behind, and the
failure reaches the user as one plain line (no Python warning with a source path)."""

from __future__ import annotations

import errno
import pathlib
from pathlib import Path

from click.testing import CliRunner

from gantry.cli import cli
from gantry.testing.factory import write_cohort

_real_open = pathlib.Path.open


class _FullDisk:
    """A text file whose buffered writes succeed and whose flush on close fails (ENOSPC),
    as on a full disk."""

    def __init__(self, fh) -> None:
        self.fh = fh

    def write(self, text: str) -> int:
        return self.fh.write(text)

    def close(self) -> None:
        self.fh.close()
        raise OSError(errno.ENOSPC, "No space left on device")


def _manifest_tmp_fails(self: Path, *args, **kwargs):
    fh = _real_open(self, *args, **kwargs)
    if ".tmp-" in self.name and self.name.startswith(".manifest"):
        return _FullDisk(fh)
    return fh


def test_full_disk_leaves_no_temporary_manifest_and_one_plain_line(tmp_path, monkeypatch):
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    monkeypatch.setattr(pathlib.Path, "open", _manifest_tmp_fails)
    result = CliRunner().invoke(cli, ["deidentify", str(tmp_path / "in"),
                                      str(tmp_path / "out"), "--db", "memory://",
                                      "--workers", "1"])
    assert result.exit_code == 1, result.output
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if ".tmp-" in p.name]
    assert leftovers == []
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 2  # the instances are written
    lines = [line for line in result.output.splitlines() if "No space left" in line]
    assert len(lines) == 1 and "plugin 'reports'" in lines[0], result.output
    assert "RuntimeWarning" not in result.output and ".py:" not in result.output


def test_quiet_run_still_gets_the_failure_as_one_plain_line(tmp_path, monkeypatch):
    write_cohort(tmp_path / "in", patients=1, series=1, instances=1)
    monkeypatch.setattr(pathlib.Path, "open", _manifest_tmp_fails)
    result = CliRunner().invoke(cli, ["-q", "deidentify", str(tmp_path / "in"),
                                      str(tmp_path / "out"), "--db", "memory://",
                                      "--workers", "1"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "No space left" in line]
    assert len(lines) == 1 and lines[0].startswith("gantry: warning: plugin 'reports'")
    assert ".py:" not in result.output
