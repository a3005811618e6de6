"""Fixtures of gantry-pacs's tests: one Orthanc per test module, on loopback, free ports,
stopped (and waited for) at the end. Helpers are in ``pacs_peers.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pacs_peers import ORTHANC, OrthancPeer, start_orthanc, stop_process


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancPeer]:
    """One Orthanc per test module (stopped, and waited for, at the end)."""
    if ORTHANC is None:
        pytest.skip("Orthanc is not installed (make system-deps)")
    peer = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield peer
    finally:
        stop_process(peer.proc)

