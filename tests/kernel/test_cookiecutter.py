"""The plugin template renders, installs, shows up in `gantry plugins` and passes its tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["redact", "audit", "export", "ingest"])
def test_rendered_plugin_works(stage: str, tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    name = f"gantry-site-{stage}"
    project = Path(cookiecutter(str(ROOT / "cookiecutter-plugin"), no_input=True,
                                output_dir=str(tmp_path),
                                extra_context={"plugin_name": name, "stage": stage}))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(project)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    listed = subprocess.run([sys.executable, "-m", "gantry", "plugins", "--json"], env=env,
                            capture_output=True, text=True, check=True)
    plugins = {p["distribution"]: p for p in json.loads(listed.stdout)}
    assert plugins[name]["status"] == "loaded"
    assert plugins[name]["components"], plugins[name]
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(project / "tests")], env=env, capture_output=True, text=True,
                           cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
