"""Ctrl-C stops a run cleanly (exit 130) and the same command resumes where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gantry.testing.factory import write_cohort


@pytest.mark.slow
def test_sigint_then_rerun_finishes_every_instance_once(tmp_path: Path) -> None:
    pytest.importorskip("gantry_sqlite")
    cohort = write_cohort(tmp_path / "in", patients=4, series=3, instances=25)
    out = tmp_path / "out"
    env = {**os.environ, "GANTRY_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "gantry", "-q", "deidentify", str(tmp_path / "in"), str(out),
           "--workers", "1", "--format", "dicom"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(out.rglob("*.dcm"))) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be interrupted")
    assert proc.returncode == 130, err
    assert "run the same command again" in err
    partial = len(list(out.rglob("*.dcm")))
    assert 0 < partial <= len(cohort.paths), err
    assert not list(out.rglob("*.part"))
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    outputs = list(out.rglob("*.dcm"))
    assert len(outputs) == len(cohort.paths), rerun.stderr
