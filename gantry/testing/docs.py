"""Run the Python examples of a documentation page, so docs cannot rot."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    """The fenced ```python blocks of a Markdown page, in order."""
    return _BLOCK.findall(Path(page).read_text(encoding="utf-8"))


def run_python_examples(page: Path, workdir: Path, *, min_blocks: int = 1) -> int:
    """Execute a page's Python blocks in order, in one module namespace, inside ``workdir``.

    Returns how many blocks ran; fails when the page has fewer than ``min_blocks``.
    """
    page = Path(page)
    blocks = python_blocks(page)
    if len(blocks) < min_blocks:
        raise AssertionError(f"{page} has {len(blocks)} Python example(s), "
                             f"expected at least {min_blocks}")
    name = "docs_example_" + re.sub(r"\W", "_", page.stem)
    module = types.ModuleType(name)
    sys.modules[name] = module
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        for code in blocks:
            exec(compile(code, str(page), "exec"), module.__dict__)
    finally:
        os.chdir(previous)
        sys.modules.pop(name, None)
    return len(blocks)
