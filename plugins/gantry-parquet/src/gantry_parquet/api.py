"""gantry-parquet's public contract: the query language compiled for DuckDB and Arrow.

Both take the syntax tree of ``gantry.api.parse_query``; the kernel's own compiler is
``gantry.api.to_predicate``. Everything else in this package is internal and may change
without notice.
"""

from __future__ import annotations

from gantry_parquet.arrow_expr import arrow_type, to_arrow
from gantry_parquet.duckdb_sql import quote_identifier, to_duckdb

__all__ = ["arrow_type", "quote_identifier", "to_arrow", "to_duckdb"]
