"""Make the console's test kit (``web_kit.py`` beside this file) importable as
``gantry_web_kit``: the tests' folder is no package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _load_kit() -> None:
    if "gantry_web_kit" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("gantry_web_kit",
                                                  Path(__file__).with_name("web_kit.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gantry_web_kit"] = module
    spec.loader.exec_module(module)


_load_kit()
