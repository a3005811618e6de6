"""Fixtures of gantry-nifti's tests: the reference converter and the BIDS validator, found
next to the running interpreter (the test extra installs both) or on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install 'gantry-nifti[test]')")
    return found


@pytest.fixture(scope="session")
def dcm2niix_bin() -> str:
    """The dcm2niix binary of the PyPI wheel."""
    return _tool("dcm2niix")


@pytest.fixture(scope="session")
def bids_validator_bin() -> str:
    """The official BIDS validator (PyPI ``bids-validator-deno``)."""
    return _tool("bids-validator-deno")
