"""Rows (``{column: typed value}``) to Arrow record batches and tables with dictionary types."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from gantry_parquet.columns import column_type, ordered

if TYPE_CHECKING:
    import pyarrow as pa


def rows_to_batch(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """One record batch with a column for every key present in any row."""
    import pyarrow as pa

    names = ordered({key for row in rows for key in row})
    arrays = [_array([row.get(name) for row in rows], column_type(name)) for name in names]
    fields = [pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # One odd value (an out-of-range UV, say) must not lose the others: null it alone.
        cleaned = []
        for value in values:
            try:
                pa.array([value], type=type_)
                cleaned.append(value)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                cleaned.append(None)
        return pa.array(cleaned, type=type_)


def unify(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """One schema holding every column of ``schemas``, in table order."""
    import pyarrow as pa

    fields: dict[str, pa.Field] = {}
    for schema in schemas:
        for f in schema:
            fields.setdefault(f.name, f)
    return pa.schema([fields[name] for name in ordered(list(fields))])


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly the columns of ``schema`` (missing ones null), in its order."""
    import pyarrow as pa

    present = set(batch.schema.names)
    arrays = []
    for f in schema:
        if f.name in present:
            column = batch.column(f.name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            arrays.append(column if column.type == f.type else column.cast(f.type))
        else:
            arrays.append(pa.nulls(batch.num_rows, type=f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def rows_to_table(rows: Iterable[dict[str, Any]], batch_size: int = 4096) -> pa.Table:
    """A table from streamed rows, built in batches (the schema unified across them)."""
    import pyarrow as pa

    batches = list(_batches(rows, batch_size))
    if not batches:
        return pa.table({})
    schema = unify(b.schema for b in batches)
    return pa.Table.from_batches([conform(b, schema) for b in batches], schema=schema)


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[pa.RecordBatch]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield rows_to_batch(chunk)
            chunk = []
    if chunk:
        yield rows_to_batch(chunk)
