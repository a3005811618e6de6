"""The dask executor's map_unordered semantics on a real 2-worker LocalCluster."""

from __future__ import annotations

import sys
import time

import cloudpickle
import pytest
from gantry_dask.executor import DaskExecutor, TaskFailed

pytestmark = [pytest.mark.component, pytest.mark.slow]

# Test modules imported with --import-mode=importlib are not importable by workers: ship by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(x: int) -> int:
    return x * x


def sleep_then_return(item: tuple[float, str]) -> str:
    delay, name = item
    time.sleep(delay)
    return name


def fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError("seven is not allowed")
    time.sleep(0.01)
    return x


def worker_pid(_: int) -> int:
    import os

    time.sleep(0.2)
    return os.getpid()


@pytest.fixture(scope="module")
def executor():
    ex = DaskExecutor(workers=2, max_pending=4)
    yield ex
    ex.close()


def test_reports_two_workers_of_one_thread(executor):
    assert executor.workers == 2
    assert len(executor.client.nthreads()) == 2


def test_every_item_is_mapped_exactly_once(executor):
    results = list(executor.map_unordered(square, range(50)))
    assert sorted(results) == [x * x for x in range(50)]


def test_results_arrive_in_completion_order_not_submission_order(executor):
    items = [(1.5, "slow"), (0.0, "fast-1"), (0.0, "fast-2")]
    results = list(executor.map_unordered(sleep_then_return, items))
    assert sorted(results) == ["fast-1", "fast-2", "slow"]
    assert results[0] != "slow"


def test_work_is_spread_over_worker_processes(executor):
    import os

    pids = set(executor.map_unordered(worker_pid, range(8)))
    assert len(pids) == 2
    assert os.getpid() not in pids


def test_lazy_items_are_consumed_with_bounded_pending(executor):
    pulled: list[int] = []

    def items():
        for i in range(100):
            pulled.append(i)
            yield i

    stream = executor.map_unordered(square, items())
    first = next(stream)
    assert first in {x * x for x in range(executor.max_pending + 1)}
    assert len(pulled) <= executor.max_pending + 1
    assert sorted([first, *stream]) == [x * x for x in range(100)]


def test_exception_names_the_failing_item_and_chains_the_worker_error(executor):
    with pytest.raises(TaskFailed) as info:
        list(executor.map_unordered(fail_on_seven, range(20)))
    assert info.value.item == 7
    assert "fail_on_seven failed on 7" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    assert "seven is not allowed" in str(info.value)
    # the executor stays usable after a failure
    assert sorted(executor.map_unordered(square, [1, 2, 3])) == [1, 4, 9]


def test_closing_the_stream_early_cancels_pending_tasks(executor):
    stream = executor.map_unordered(sleep_then_return, [(0.0, "a")] + [(5.0, "z")] * 3)
    assert next(stream) == "a"
    stream.close()
    deadline = time.monotonic() + 5
    while executor.client.processing() and any(executor.client.processing().values()):
        assert time.monotonic() < deadline, "tasks still processing after the stream closed"
        time.sleep(0.05)


def test_closed_executor_refuses_work_and_close_is_idempotent():
    ex = DaskExecutor(workers=1)
    assert list(ex.map_unordered(square, [3])) == [9]
    ex.close()
    ex.close()
    from gantry_dask.executor import DaskExecutorError

    with pytest.raises(DaskExecutorError, match="closed"):
        ex.map_unordered(square, [1])


def test_connects_to_a_running_scheduler_by_address():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"}) as cluster:
        ex = DaskExecutor(address=cluster.scheduler_address)
        try:
            assert ex.workers == 1
            assert sorted(ex.map_unordered(square, range(5))) == [0, 1, 4, 9, 16]
        finally:
            ex.close()
        # closing a connected executor leaves the cluster running
        again = DaskExecutor(address=cluster.scheduler_address)
        try:
            assert list(again.map_unordered(square, [6])) == [36]
        finally:
            again.close()
