"""The ``dask`` executor: runs a picklable function over picklable items on Dask distributed.

Without an ``address`` it starts a ``LocalCluster`` (worker processes, one thread each by
default) and stops it on :meth:`DaskExecutor.close`; with one it connects to a running
scheduler and leaves the cluster alone. Items are submitted through a bounded window so memory
stays flat however long the plan is; results come back in completion order.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from gantry.api import GantryError
from gantry_dask.options import DaskOptions

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

_LABEL_MAX = 200


class DaskExecutorError(GantryError):
    """The Dask cluster cannot be started or reached, or the executor was used after close."""


class TaskFailed(GantryError):
    """``fn(item)`` raised on a worker (or its worker died); ``item`` is the failing item."""

    def __init__(self, fn_name: str, item: Any, error: BaseException) -> None:
        self.item = item
        self.error = error
        super().__init__(f"{fn_name} failed on {describe_item(item)}: "
                         f"{type(error).__name__}: {error}")


def describe_item(item: Any) -> str:
    """A short, human-readable name for a unit of work (its ``label`` if it has one)."""
    for attr in ("label", "name", "series_instance_uid"):
        value = getattr(item, attr, None)
        if isinstance(value, str) and value:
            return value[:_LABEL_MAX]
    text = repr(item)
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 3] + "..."


class DaskExecutor:
    """An :class:`gantry.components.ExecutorImpl` backed by a Dask distributed ``Client``.

    Keyword options are those of :class:`gantry_dask.options.DaskOptions` (strings are
    converted, so ``--executor-option workers=4`` works as is).
    """

    def __init__(self, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.options = DaskOptions.parse(options, **kwargs)
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._closed = False
        try:
            self._start()
        except Exception:
            self.close()
            raise
        nthreads = self._client.nthreads() if self._client else {}
        self.workers: int = max(1, sum(nthreads.values()))
        self.max_pending: int = self.options.max_pending or 4 * self.workers

    # ------------------------------------------------------------------ lifecycle
    def _start(self) -> None:
        from distributed import Client, LocalCluster

        opts = self.options
        if opts.address:
            try:
                self._client = Client(opts.address, timeout=opts.timeout, set_as_default=False)
                self._client.wait_for_workers(1, timeout=opts.timeout)
            except (OSError, TimeoutError) as exc:
                raise DaskExecutorError(f"cannot reach a Dask scheduler with workers at "
                                        f"{opts.address}: {exc}") from exc
            return
        n_workers = opts.workers or os.cpu_count() or 1
        # Without a dashboard the scheduler still serves health/metrics over HTTP: bind it to a
        # free port so two clusters (or another service on 8787) never collide.
        dashboard: dict[str, Any] = (
            {"dashboard_address": opts.dashboard_address} if opts.dashboard_address
            else {"dashboard_address": None,
                  "scheduler_kwargs": {"dashboard": False, "dashboard_address": ":0"}})
        try:
            self._cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=opts.threads_per_worker,
                processes=opts.processes,
                memory_limit=opts.memory_limit,
                **dashboard,
                local_directory=opts.local_directory,
                silence_logs=logging.ERROR,
            )
        except Exception as exc:
            raise DaskExecutorError(f"cannot start a Dask LocalCluster of {n_workers} "
                                    f"workers: {exc}") from exc
        self._client = Client(self._cluster, set_as_default=False)

    @property
    def client(self) -> Client:
        """The Dask ``Client`` (for callers that want the dashboard link or diagnostics)."""
        if self._closed or self._client is None:
            raise DaskExecutorError("the dask executor is closed")
        return self._client

    @property
    def dashboard_link(self) -> str | None:
        """The scheduler dashboard's URL, when one is served."""
        try:
            return self.client.dashboard_link
        except Exception:
            return None

    def close(self) -> None:
        """Cancel outstanding work, disconnect, and stop the cluster if this executor started it."""
        if self._closed:
            return
        self._closed = True
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # pragma: no cover - teardown of a dead cluster
                log.warning("closing the Dask client failed: %s", exc)
        if cluster is not None:
            try:
                cluster.close()
            except Exception as exc:  # pragma: no cover
                log.warning("stopping the Dask LocalCluster failed: %s", exc)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ work
    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Apply ``fn`` to every item on the cluster; yield results in completion order.

        At most ``max_pending`` tasks are in flight. If ``fn`` raises, the remaining tasks are
        cancelled and :class:`TaskFailed` is raised naming the item (the worker's exception is
        chained). Closing the returned iterator early cancels what is still pending.
        """
        client = self.client
        return self._iterate(client, fn, iter(items))

    def _iterate(self, client: Client, fn: Callable[[T], R], items: Iterator[T]) -> Iterator[R]:
        from distributed import as_completed

        fn_name = getattr(fn, "__qualname__", None) or type(fn).__name__
        prefix = f"gantry-{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex[:8]}"
        pending: dict[Future, T] = {}
        completed = as_completed(loop=client.loop)
        counter = 0

        def submit_next() -> bool:
            nonlocal counter
            try:
                item = next(items)
            except StopIteration:
                return False
            future = client.submit(fn, item, pure=False, key=f"{prefix}-{counter}")
            counter += 1
            pending[future] = item
            completed.add(future)
            return True

        try:
            while len(pending) < self.max_pending and submit_next():
                pass
            while pending:
                future = next(completed)
                item = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:
                    raise TaskFailed(fn_name, item, exc) from exc
                finally:
                    future.release()
                submit_next()
                yield result
        finally:
            if pending and not self._closed:
                try:
                    client.cancel(list(pending), force=True)
                except Exception as exc:  # pragma: no cover - cluster already gone
                    log.debug("cancelling pending Dask tasks failed: %s", exc)
            pending.clear()
