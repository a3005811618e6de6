"""Wheels and sdists of the kernel and of every plugin build cleanly, with the right metadata."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = [ROOT, *sorted(p for p in (ROOT / "plugins").iterdir()
                          if (p / "pyproject.toml").exists())]


def _build(project: Path, out: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist",
                    "--outdir", str(out), str(project)], check=True, capture_output=True)
    wheel = next(out.glob("*.whl"))
    sdist = next(out.glob("*.tar.gz"))
    return wheel, sdist


def _metadata(wheel: Path) -> tuple[dict[str, list[str]], list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        msg = Parser().parsestr(zf.read(meta_name).decode())
        fields: dict[str, list[str]] = {}
        for key, value in msg.items():
            fields.setdefault(key, []).append(value)
        eps = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        entry_points = zf.read(eps).decode() if eps else ""
    return {**fields, "_entry_points": [entry_points]}, names


@pytest.mark.slow
@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name if p != ROOT else "kernel")
def test_distribution_builds_with_metadata(project: Path, tmp_path: Path) -> None:
    wheel, sdist = _build(project, tmp_path)
    config = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    fields, names = _metadata(wheel)
    assert fields["Name"] == [config["name"]]
    assert fields.get("License-Expression", fields.get("License")) == ["Apache-2.0"]
    assert fields["Requires-Python"] == [">=3.11"]
    assert fields.get("Summary") and fields["Summary"][0]
    assert fields.get("Description-Content-Type") == ["text/markdown"]
    with tarfile.open(sdist) as tf:
        assert any(n.endswith("/pyproject.toml") for n in tf.getnames())
        assert any(n.endswith("/README.md") for n in tf.getnames())
    if project == ROOT:
        assert "gantry/_profiles/ps3.15/basic.yaml" in names
        assert any(n.startswith("gantry/_profiles/ps3.15/annex_e_") for n in names)
        extras = fields.get("Provides-Extra", [])
        assert {"sqlite", "ocr", "dask", "parquet", "all"} <= set(extras)
    else:
        assert "[gantry]" in fields["_entry_points"][0], "plugin has no gantry entry point"
        assert any("gantry-dicom" in r for r in fields.get("Requires-Dist", []))
        assert (project / "tests").is_dir() and list((project / "tests").glob("test_*.py"))
