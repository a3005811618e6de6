"""How many inputs a run has, counted beside it: the progress bar's total, hence its ETA.

Discovery streams (the first files are at work long before the last folder is listed), so the
total comes from the ingestor's optional ``count(uri)``, run on a daemon thread. The thread is
started once the first results are in: by then the executor's worker processes run, and a
thread in this process cannot make them start by spawning instead of forking.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class InputCount:
    """The number of inputs behind ``uri`` (``total``: ``None`` until counted, or unknown)."""

    def __init__(self, count: Callable[[str], int | None] | None, uri: str) -> None:
        self._count = count
        self._uri = uri
        self._thread: threading.Thread | None = None
        self.total: int | None = None

    @classmethod
    def for_ingestor(cls, ingestor: Any, uri: str, wanted: bool) -> InputCount:
        """A counter for ``ingestor``'s inputs behind ``uri``; one that never counts unless
        ``wanted`` (nobody shows the total) and the ingestor can count."""
        return cls(getattr(ingestor, "count", None) if wanted else None, uri)

    def start(self) -> None:
        """Start counting (once; nothing when there is nothing to count with)."""
        if self._count is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="gantry-input-count",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._count is not None
        try:
            found = self._count(self._uri)
        except Exception:  # an estimate for the progress bar only: without it, no ETA
            found = None
        self.total = found if isinstance(found, int) and found >= 0 else None

    def join(self, timeout: float | None = None) -> None:
        """Wait for the count (tests, and callers that want the total before going on)."""
        if self._thread is not None:
            self._thread.join(timeout)
