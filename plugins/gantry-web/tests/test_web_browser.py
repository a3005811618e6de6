"""End to end in a real browser (Debian's chromium through chromium-driver): browse → view →
withhold → export, asserting on the pages and on what the store and the output hold after."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from gantry_web_kit import chromium, demo_store, start_console

pytestmark = [pytest.mark.component, pytest.mark.slow]


def _need_browser() -> None:
    missing = [n for n in ("chromium", "chromedriver") if shutil.which(n) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} not installed (make system-deps installs them)")
        pytest.skip(f"{', '.join(missing)} not installed")
    pytest.importorskip("selenium")


def _wait(condition, timeout: float = 60.0, what: str = "the page") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _loaded(driver, element_id: str) -> bool:
    return bool(driver.execute_script(
        f"const i = document.getElementById('{element_id}');"
        "return i !== null && i.complete && i.naturalWidth > 0;"))


def test_browse_view_withhold_export_in_chromium(tmp_path: Path) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By

    demo = demo_store(tmp_path / "demo")
    out = tmp_path / "release"
    console = start_console("--db", demo.url, "--profile", demo.profile, "--user", "reviewer")
    driver = chromium(tmp_path / "chromium-profile")
    try:
        # -- browse: the token opens the console; patients → studies → series → instances
        driver.get(console.address)
        assert driver.title == "Patients · Gantry review"
        assert "token" not in driver.current_url
        rows = driver.find_elements(By.CSS_SELECTOR, "#patients tbody tr")
        assert len(rows) == 3
        assert f"{demo.instances} instances" in driver.find_element(By.CSS_SELECTOR,
                                                                    "p.counts").text
        links = [r.find_element(By.TAG_NAME, "a").get_attribute("href") for r in rows]
        counts = []
        for link in links:  # the CT patients have two series, the ultrasound patient one
            driver.get(link)
            _wait(lambda: driver.title == "Studies of a patient · Gantry review",
                  what="the studies page")
            driver.find_element(By.CSS_SELECTOR, "#studies tbody a").click()
            counts.append(len(driver.find_elements(By.CSS_SELECTOR, "#series tbody tr")))
            if counts[-1] == 2:
                break
        series_rows = driver.find_elements(By.CSS_SELECTOR, "#series tbody tr")
        assert len(series_rows) == 2, counts
        assert series_rows[0].find_elements(By.TAG_NAME, "td")[1].text == "CT"
        series_rows[0].find_element(By.TAG_NAME, "a").click()
        assert len(driver.find_elements(By.CSS_SELECTOR, "#instances tbody tr")) == 3
        driver.find_element(By.CSS_SELECTOR, "#instances tbody a").click()
        _wait(lambda: _loaded(driver, "after"), what="the redacted CT frame")

        # -- search: an error shows the caret, then the ultrasound is found
        driver.find_element(By.LINK_TEXT, "Search").click()
        box = driver.find_element(By.ID, "q")
        box.send_keys("Modality == 'US' and")
        box.submit()
        error = driver.find_element(By.ID, "query-error").text
        assert "query error (column" in error and "^" in error
        box = driver.find_element(By.ID, "q")
        box.clear()
        box.send_keys("Modality == 'US'")
        box.submit()
        _wait(lambda: driver.title == "Search results · Gantry review", what="the results")
        assert "Modality" not in driver.current_url
        driver.find_element(By.CSS_SELECTOR, "#instances tbody a").click()

        # -- view: the redacted frame with its boxes, frame stepping, window/level, originals
        _wait(lambda: _loaded(driver, "after"), what="the redacted ultrasound frame")
        assert driver.find_elements(By.ID, "before") == []
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg.overlay rect.blanked")) == 1
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg.overlay rect.found")) == 1
        first = driver.find_element(By.ID, "after").get_attribute("src")
        driver.find_element(By.ID, "next-frame").click()
        _wait(lambda: _loaded(driver, "after"), what="frame 1")
        assert "frame=1" in driver.find_element(By.ID, "after").get_attribute("src") != first
        centre = driver.find_element(By.NAME, "wc")
        centre.clear()
        centre.send_keys("900")
        centre.submit()
        _wait(lambda: _loaded(driver, "after"), what="the re-windowed frame")
        assert "wc=900" in driver.find_element(By.ID, "after").get_attribute("src")
        assert "TEST^ADL" not in driver.page_source
        driver.find_element(By.ID, "reveal").click()
        _wait(lambda: _loaded(driver, "before"), what="the original frame")
        assert "TEST^ADL" in driver.find_element(By.ID, "diff").text  # asked for: shown

        # -- withhold this instance, with a reason
        reason = driver.find_element(By.NAME, "reason")
        reason.send_keys("record number burned in, not covered by a zone")
        driver.find_element(By.CSS_SELECTOR, "form.decide button.withhold").click()
        assert "withhold: 1 instance(s) recorded as reviewer" in driver.find_element(
            By.ID, "message").text
        driver.find_element(By.ID, "back").click()
        assert driver.find_element(By.ID, "decision").text == "withhold"

        # -- export from the console: progress, summary, compliance report
        driver.find_element(By.LINK_TEXT, "Export").click()
        driver.find_element(By.ID, "dest").send_keys(str(out))
        driver.find_element(By.ID, "start-export").click()
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#job[data-state=done]"),
              timeout=180, what="the export to finish")
        assert driver.find_element(By.ID, "summary-withheld").text == "1"
        assert driver.find_element(By.ID, "summary-done").text == str(demo.instances - 1)
        assert driver.find_element(By.ID, "summary-failed").text == "0"
        verdict = driver.find_element(By.ID, "compliance").text
        assert verdict.split(":")[0] in ("PASS", "UNVERIFIED") and " 0 fail," in verdict
        driver.find_element(By.ID, "compliance-link").click()
        assert "ompliance" in driver.title
    finally:
        driver.quit()
        printed = console.stop()

    # -- what the store and the output hold afterwards
    assert not re.search(r"TEST\^ADL|MRN4471|GET /", printed), printed  # nothing in the log
    from gantry import Session

    with Session(demo.url, profile=demo.profile, workers=1) as session:
        (decision,) = list(session.store.iter_decisions())
        assert decision.sop_instance_uid == demo.us_uid and decision.action == "withhold"
        assert decision.who == "reviewer" and "burned in" in decision.reason
        assert session.store.get_status(demo.us_uid) == "withheld"
        kinds = [e.kind for e in session.store.iter_events()]
        assert "originals-viewed" in kinds and "decision-withhold" in kinds
        new_us = session.run.map_uid(demo.us_uid)
    written = list(out.rglob("*.dcm"))
    assert len(written) == demo.instances - 1
    assert not any(new_us in str(p) for p in written)
    assert (out.parent / "release-compliance" / "compliance.html").is_file()
