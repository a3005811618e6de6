"""Batch settings of the CLI's process and its workers."""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import subprocess
import sys

import pytest

from gantry import process_tuning


def test_tune_for_batch_sets_the_collector_pace_and_is_idempotent() -> None:
    before = gc.get_threshold()
    try:
        process_tuning.tune_for_batch()
        process_tuning.tune_for_batch()
        assert gc.get_threshold() == (20_000, 50, 50)
    finally:
        gc.set_threshold(*before)


def _threshold_in_worker(queue: multiprocessing.Queue) -> None:
    from gantry.builtins.local_executor import _exit_with_parent

    _exit_with_parent(multiprocessing.parent_process().pid)
    queue.put(gc.get_threshold()[0])


def test_a_spawned_worker_gets_the_batch_settings() -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_threshold_in_worker, args=(queue,))
    proc.start()
    try:
        assert queue.get(timeout=60) == 20_000
    finally:
        proc.join(timeout=30)


_MAPPED = """
import ctypes
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
def mapped():
    before = libc.mallinfo2().hblks
    buffer = bytearray(600_000)
    return libc.mallinfo2().hblks - before
untuned = mapped()
from gantry.process_tuning import tune_for_batch
tune_for_batch()
print(untuned, mapped())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_buffers_stay_on_the_heap_after_tuning() -> None:
    """In a fresh process a half-megabyte buffer gets a mapping of its own (a page fault per
    4 KiB each time); after tuning it comes from the heap."""
    libc = ctypes.CDLL("libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc without mallinfo2")
    out = subprocess.run([sys.executable, "-c", _MAPPED], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["1", "0"]
