"""Hook implementations of gantry-dask (cheap imports only: Dask loads when the executor starts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gantry import hookimpl
from gantry.api import Executor


def _make_executor(options: dict[str, Any]) -> Any:
    from gantry_dask.executor import DaskExecutor

    return DaskExecutor(**(options or {}))


@hookimpl
def gantry_executors() -> Iterator[Executor]:
    """Register the ``dask`` executor: a LocalCluster, or a scheduler given by ``address``."""
    yield Executor(
        "dask",
        factory=_make_executor,
        description="Dask distributed: a LocalCluster of worker processes, or a remote "
                    "scheduler (option address=tcp://host:8786)",
    )
