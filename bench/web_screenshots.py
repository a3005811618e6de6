"""Screenshots of every page of ``gantry web`` (``make screenshots``), for a reviewer to look at.

Builds the demo store of the console's test kit (``plugins/gantry-web/tests/web_kit.py``) in a
temporary folder, starts ``gantry web`` on it, drives Debian's chromium through chromium-driver
over each page and writes one PNG per page to ``--out`` (default ``docs/web``)::

    .venv/bin/python bench/web_screenshots.py [--out docs/web] [--width 1280] [--height 900]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _wait(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise SystemExit("timed out")


def _images_loaded(driver) -> bool:
    return bool(driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);"))


def _kit():
    """The console's test kit (``plugins/gantry-web/tests/web_kit.py``)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "plugins" / "gantry-web" / "tests" / \
        "web_kit.py"
    spec = importlib.util.spec_from_file_location("gantry_web_kit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gantry_web_kit"] = module
    spec.loader.exec_module(module)
    return module


def _shrink(path: Path) -> None:
    """Re-save a screenshot with a 256-colour palette (a third of the size, same look)."""
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional here: the PNG stays as chromium wrote it
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256)
    small.save(path, optimize=True)


def shoot(out: Path, width: int, height: int) -> list[Path]:
    """Write the screenshots; return their paths."""
    kit = _kit()
    chromium, demo_store, start_console = kit.chromium, kit.demo_store, kit.start_console
    from selenium.webdriver.common.by import By

    os.environ.setdefault("GANTRY_SECRET", bytes(range(32)).hex())  # a demo: fixed secret
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="gantry-web-shots-") as tmp:
        root = Path(tmp)
        os.environ["GANTRY_HOME"] = str(root / "home")
        demo = demo_store(root / "demo")
        console = start_console("--db", demo.url, "--profile", demo.profile,
                                "--user", "reviewer")
        driver = chromium(root / "chromium-profile", width=width, height=height)

        def snap(name: str) -> None:
            _wait(lambda: _images_loaded(driver))
            path = out / f"{name}.png"
            driver.save_screenshot(str(path))
            _shrink(path)
            written.append(path)

        try:
            driver.get(console.address)
            snap("1-patients")
            links = [a.get_attribute("href")
                     for a in driver.find_elements(By.CSS_SELECTOR, "#patients tbody a")]
            for link in links:  # a CT patient (two series)
                driver.get(link)
                driver.find_element(By.CSS_SELECTOR, "#studies tbody a").click()
                if len(driver.find_elements(By.CSS_SELECTOR, "#series tbody tr")) == 2:
                    break
            driver.back()
            snap("2-studies")
            driver.find_element(By.CSS_SELECTOR, "#studies tbody a").click()
            snap("3-series")
            driver.find_element(By.CSS_SELECTOR, "#series tbody a").click()
            snap("4-instances")
            driver.find_element(By.LINK_TEXT, "Search").click()
            box = driver.find_element(By.ID, "q")
            box.send_keys("Modality == 'US' and BurnedInAnnotation")
            box.submit()
            driver.find_element(By.ID, "query-error")
            snap("5-search-error")
            box = driver.find_element(By.ID, "q")
            box.clear()
            box.send_keys("Modality == 'US'")
            box.submit()
            driver.find_element(By.CSS_SELECTOR, "#instances tbody a")
            snap("6-search-results")
            driver.find_element(By.CSS_SELECTOR, "#instances tbody a").click()
            driver.find_element(By.ID, "after")
            snap("7-viewer")
            driver.find_element(By.ID, "reveal").click()
            driver.find_element(By.ID, "before")
            snap("8-viewer-originals")
            driver.execute_script("document.getElementById('diff').scrollIntoView();")
            snap("9-header-diff")
            driver.find_element(By.NAME, "reason").send_keys("record number burned in")
            driver.find_element(By.CSS_SELECTOR, "form.decide button.withhold").click()
            driver.find_element(By.ID, "back").click()
            driver.find_element(By.CSS_SELECTOR, "button.accept-zone").click()
            driver.find_element(By.ID, "zones")
            snap("10-zone-rules")
            driver.find_element(By.LINK_TEXT, "Decisions").click()
            snap("11-decisions")
            driver.find_element(By.LINK_TEXT, "Export").click()
            driver.find_element(By.ID, "dest").send_keys(str(root / "release"))
            driver.find_element(By.ID, "start-export").click()
            _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#job[data-state=done]"))
            snap("12-export")
        finally:
            driver.quit()
            console.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/web"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    for path in shoot(args.out, args.width, args.height):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
