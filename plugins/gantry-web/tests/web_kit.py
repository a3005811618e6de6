"""The console's test kit: a small store to review, a ``gantry web`` process, a browser.

Used by the tests here (``conftest.py`` loads it as ``gantry_web_kit``) and by
``bench/web_screenshots.py``; not part of the installed plugin (it uses the kernel's and
gantry-pixels' testing helpers).

:func:`demo_store` writes a CT cohort (planted identifiers everywhere, from
``gantry.testing.factory``) and one 16-bit, three-frame ultrasound with a name and a record
number burned into its pixels, ingests them into a SQLite store with a profile whose zone rule
blanks the name, and records for the number the finding an OCR auditor reports (a
``burned-in-text`` finding with its box, as ``gantry audit`` with gantry-ocr stores it; written
directly so that no tesseract is needed).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

US_NAME, US_ID = "TEST^ADL", "MRN4471"
US_MANUFACTURER, US_MODEL = "ACME ULTRASOUND", "SONO 9"
#: where the record number is burned in: x, y, width, height
ID_BOX = (8, 88, 84, 18)

PROFILE = """\
extends: ps3.15/research
description: review demo (a zone rule for the ACME ultrasound header)
redact: [ps315-tags, pixel-zones]
plugins:
  gantry-pixels:
    zones:
      - name: acme-header
        match: {Manufacturer: "ACME*", size: "128x160"}
        boxes: [[0, 0, 160, 30]]
"""


@dataclass
class DemoStore:
    """What :func:`demo_store` made."""

    url: str
    profile: str
    inputs: Path
    tokens: set[str] = field(default_factory=set)
    instances: int = 0
    us_uid: str = ""


def demo_store(root: str | Path, *, patients: int = 2, series: int = 2,
               instances: int = 3) -> DemoStore:
    """Write the inputs under ``root``, ingest them into ``root/cohort.db``; see the module."""
    from gantry_pixels.testing import make_text_image

    from gantry import Session
    from gantry.api import Finding
    from gantry.testing.factory import write_cohort

    root = Path(root)
    cohort = write_cohort(root / "in", patients=patients, series=series, instances=instances,
                          rows=64, cols=64)
    us = make_text_image([(8, 6, US_NAME, 16), (8, 90, US_ID, 14)], rows=128, cols=160,
                         frames=3, bits=16, patient_name=US_NAME, patient_id=US_ID,
                         manufacturer=US_MANUFACTURER, model=US_MODEL,
                         texts_per_frame=[[(8, 6, US_NAME, 16), (8, 90, US_ID, 14),
                                           (120, 108, f"F{f + 1}", 14)] for f in range(3)],
                         PatientBirthDate="19700101", StudyDate="20240105",
                         StudyDescription="US abdomen", SeriesDescription="liver",
                         InstitutionName="St Example Hospital", SeriesNumber=1,
                         InstanceNumber=1, WindowCenter=2048, WindowWidth=4096)
    us.save_as(root / "in" / "us.dcm", enforce_file_format=True)
    profile = root / "review.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    url = f"sqlite:///{root / 'cohort.db'}"
    with Session(url, profile=str(profile), workers=1) as session:
        session.ingest(root / "in")
        session.redact()
        x, y, w, h = ID_BOX
        session.store.add_findings(str(us.SOPInstanceUID), "audit", [Finding(
            "burned-in-text", f"burned-in text (7 characters) matching the patient ID on "
            f"frame 0 at x={x} y={y} {w}x{h}, confidence 0.91", severity="error",
            component="burned-in-ocr", box=(0, x, y, w, h),
            extra={"identifying": True, "reasons": ["patient-id"], "text": None})])
        count = session.store.counts().instances
    tokens = set(cohort.tokens) | {US_NAME, US_ID, "MRN4471", "19700101", "St Example Hospital"}
    return DemoStore(url=url, profile=str(profile), inputs=root / "in", tokens=tokens,
                     instances=count, us_uid=str(us.SOPInstanceUID))


#: Flags for Debian's chromium in tests: headless, no network of its own, no first-run work.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


@dataclass
class RunningConsole:
    """A ``gantry web`` process started by :func:`start_console`."""

    process: subprocess.Popen[str]
    address: str  # http://127.0.0.1:PORT/?token=...
    lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` without the token."""
        return self.address.split("/?", 1)[0]

    def stop(self) -> str:
        """Stop the process (Ctrl-C, then kill); return what it printed."""
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        rest = self.process.stdout.read() if self.process.stdout else ""
        return "".join(self.lines) + (rest or "")


def start_console(*args: str, timeout: float = 60.0) -> RunningConsole:
    """Start ``gantry web ARGS --port 0`` and wait for the address it prints."""
    import os
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-m", "gantry", "web", *args, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "gantry web: open " in line:
            return RunningConsole(process, line.split("open ", 1)[1].strip(), lines)
    process.kill()
    raise RuntimeError("gantry web did not start: " + "".join(lines))


def chromium(user_data_dir: str | Path, *, width: int = 1280, height: int = 1000) -> Any:
    """A Selenium driver on Debian's chromium and chromium-driver (nothing downloaded)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        raise FileNotFoundError("chromium and chromium-driver are needed (make system-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.implicitly_wait(10)  # pages load after a click or a submit returns
    return driver
