"""The HTML manifest opens in a real browser (headless Chromium) and shows the export."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gantry.session import Session
from gantry.testing.factory import write_cohort

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make system-deps installs it)")
        pytest.skip("chromium is not installed")
    return found


@pytest.mark.component
def test_manifest_renders_in_headless_chromium(tmp_path: Path) -> None:
    from PIL import Image

    browser = _chromium()
    write_cohort(tmp_path / "in", patients=2, series=2, instances=2, rows=64, cols=64)
    out = tmp_path / "out"
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "in")
        assert session.export(out).done == 8
    page = (out / "manifest.html").resolve().as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "chromium-profile")]
    dom = subprocess.run([browser, *CHROMIUM_FLAGS, *profile, "--dump-dom", page],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "<title>Export manifest</title>" in dom
    cards = dict((label, int(num)) for num, label in
                 re.findall(r"<b>([\d.]+)</b>(patients|studies|series|instances)", dom))
    assert cards == {"patients": 2, "studies": 2, "series": 4, "instances": 8}
    thumbs = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', dom)
    assert len(thumbs) == 4
    assert Image.open(io.BytesIO(base64.b64decode(thumbs[0]))).size[0] > 0
    assert "Quillfeather" not in dom and "MRN000" not in dom
    shot = tmp_path / "manifest.png"
    subprocess.run([browser, *CHROMIUM_FLAGS, *profile, f"--screenshot={shot}",
                    "--window-size=1200,900", page], capture_output=True, timeout=120,
                   check=True)
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 900)
    assert len(set(image.getdata())) > 10  # real content was painted, not a blank page
