"""``gantry deidentify --executor dask`` writes exactly the bytes the local executor writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gantry.testing.factory import write_cohort

pytestmark = [pytest.mark.component, pytest.mark.slow]

SECRET = bytes(range(32)).hex()


def _deidentify(src: Path, dest: Path, home: Path, *extra: str) -> None:
    gantry = Path(sys.executable).parent / "gantry"
    env = {**os.environ, "GANTRY_HOME": str(home), "GANTRY_SECRET": SECRET,
           "XDG_CONFIG_HOME": str(home / "config")}
    done = subprocess.run([str(gantry), "--quiet", "deidentify", str(src), str(dest),
                           "--profile", "ps3.15/basic", "--workers", "2", *extra],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_dask_output_is_byte_identical_to_local(tmp_path):
    cohort = write_cohort(tmp_path / "in", patients=3, studies=1, series=2, instances=4,
                          rows=32, cols=32)
    _deidentify(cohort.root, tmp_path / "local", tmp_path / "home-local")
    _deidentify(cohort.root, tmp_path / "dask", tmp_path / "home-dask",
                "--executor", "dask", "--executor-option", "threads_per_worker=1",
                "--executor-option", f"local_directory={tmp_path / 'dask-scratch'}")
    # Dask workers really ran: they made their work space where they were told
    assert (tmp_path / "dask-scratch" / "dask-scratch-space").is_dir(), "no Dask worker ran"
    local, dask = _tree(tmp_path / "local"), _tree(tmp_path / "dask")
    dicom = [name for name, data in local.items() if data[128:132] == b"DICM"]
    assert len(dicom) == len(cohort.paths)
    assert local.keys() == dask.keys()
    # every DICOM output byte for byte (reports beside them may carry run times)
    different = [name for name in dicom if local[name] != dask[name]]
    assert not different, f"files differ between executors: {different[:5]}"
    # and the output is de-identified, not a copy
    blob = b"".join(local[name] for name in dicom)
    assert not [t for t in cohort.tokens if t.encode() in blob]
