"""The error raised for a query that cannot be parsed, typed or compiled."""

from __future__ import annotations

from gantry.errors import GantryError


class QueryError(GantryError):
    """A query is invalid. ``position`` is the 0-based offset in ``text`` (``None`` if unknown).

    ``str(error)`` is one line naming the column; :meth:`pointer` gives the query with a caret
    under the offending position, for a terminal.
    """

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        self.message = message
        self.text = text
        self.position = position
        where = f" (column {position + 1})" if position is not None else ""
        super().__init__(f"query error{where}: {message}")

    @property
    def column(self) -> int | None:
        """The 1-based column of the error, or ``None``."""
        return None if self.position is None else self.position + 1

    def pointer(self) -> str:
        """The query text and a caret line under the error position."""
        if self.position is None:
            return self.text
        return f"{self.text}\n{' ' * self.position}^"
