"""Built-in executor: local worker processes (threads on a free-threaded interpreter)."""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any, TypeVar

from gantry.components import Executor as ExecutorRecord
from gantry.hookspecs import hookimpl

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def free_threaded() -> bool:
    """Whether the interpreter runs without the GIL."""
    check = getattr(sys, "_is_gil_enabled", None)
    return bool(check is not None and not check())


class LocalExecutor:
    """Runs units of work in a pool of processes; inline when ``workers == 1``.

    At most ``2 * workers`` units are in flight, so memory stays flat whatever the input size.
    """

    def __init__(self, workers: int | None = None, **_: Any) -> None:
        self.workers = int(workers or default_workers())
        self._pool: Executor | None = None

    def _ensure_pool(self) -> Executor:
        if self._pool is None:
            if free_threaded() or (start_method() == "spawn" and not main_reimportable()):
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers)
            else:
                from concurrent.futures import ProcessPoolExecutor

                ctx = multiprocessing.get_context(start_method())
                self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                                 initializer=_exit_with_parent,
                                                 initargs=(os.getpid(),))
        return self._pool

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Apply ``fn`` to each item; yield results as they complete.

        A single item (or ``workers == 1``) runs in this process: no pool is started for it.
        """
        iterator = iter(items)
        head = list(itertools.islice(iterator, 2))
        if self.workers <= 1 or len(head) < 2:
            for item in itertools.chain(head, iterator):
                yield fn(item)
            return
        iterator = itertools.chain(head, iterator)
        pool = self._ensure_pool()
        pending: set[Future[R]] = set()
        limit = self.workers * 2
        try:
            for item in iterator:
                pending.add(pool.submit(fn, item))
                if len(pending) >= limit:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def prestart(self) -> None:
        """Start the worker processes now, ahead of the first unit (a no-op with one worker).

        Forked workers get what the work needs imported here first, so they start with it (no
        import in each worker); spawned ones import it while the caller goes on with its set-up.
        """
        if self.workers <= 1 or free_threaded() or (start_method() == "spawn"
                                                     and not main_reimportable()):
            return
        from gantry.pipeline import preload

        forking = self._pool is None and start_method() == "fork"
        if forking:
            preload()
            gc.freeze()  # what exists now is the workers' for good: their collections skip it
        pool = self._ensure_pool()
        try:
            for _ in range(self.workers):
                pool.submit(preload)  # the first submit starts (forks) every worker
        finally:
            if forking:
                gc.unfreeze()

    def close(self) -> None:
        """Shut the pool down (cancelling queued work)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def main_reimportable() -> bool:
    """Whether spawned workers may import the main module again: it has no file (an
    interactive session, ``python -c``), or its top level holds an
    ``if __name__ == "__main__":`` guard. A saved script without one (the README's example)
    would run again in every worker, which then fails to start its own pool
    (``BrokenProcessPool``): for it the pool is made of threads instead."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        return True
    found = _GUARDED.get(path)
    if found is None:
        import ast

        try:
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read(), filename=path)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            found = True  # not Python source we can read (a frozen binary): trust it
        else:
            found = any(isinstance(node, ast.If) and _is_main_guard(node.test)
                        for node in tree.body)
        _GUARDED[path] = found
    return found


_GUARDED: dict[str, bool] = {}


def _is_main_guard(test: object) -> bool:
    import ast

    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or \
            not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, *test.comparators]
    names = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return names and main


def start_method() -> str:
    """How worker processes start: ``fork`` on Linux while this process runs no other thread
    (a worker then begins with every module and cache the parent has, and ends without tearing
    its interpreter down), ``spawn`` otherwise: forking beside a running thread (a store's
    writer, a progress bar, a native library's pool) could copy a lock that thread holds, and
    never see it released."""
    if sys.platform.startswith("linux") and threading.active_count() == 1 and \
            _os_threads() == 1:
        return "fork"
    return "spawn"


def _os_threads() -> int:
    """Threads of this process as the kernel counts them, those of native libraries too (a
    BLAS pool, say); 0 when it cannot tell (then no fork either)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the parent process is gone (killed with
    SIGKILL, it cannot shut its pool down, and idle workers would wait forever); a spawned
    worker also gets the batch settings the CLI's process has (a forked one has them already)."""
    import time

    from gantry.process_tuning import tune_for_batch

    tune_for_batch()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="gantry-parent-watch", daemon=True).start()


@hookimpl
def gantry_executors():
    """Register the ``local`` executor."""
    yield ExecutorRecord("local", factory=lambda options: LocalExecutor(**options),
                         description="worker processes on this machine (--workers N)")
