"""A ``gantry`` process killed with SIGKILL leaves no worker processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

SCRIPT = """
import os, sys, time
from gantry.builtins.local_executor import LocalExecutor


def worker_pid(_item):
    time.sleep(0.05)
    return os.getpid()

if __name__ == "__main__":
    executor = LocalExecutor(workers=2)
    pids = set(executor.map_unordered(worker_pid, range(8)))
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(60)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return "Z" not in fh.read().split(")")[-1][:3]
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="process checks through /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert pids and proc.pid not in pids
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in pids if _running(p)]
        assert not alive, f"workers still running after their parent was killed: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
