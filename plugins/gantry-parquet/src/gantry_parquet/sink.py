"""The ``parquet`` sink: one row per redacted instance, streamed to disk in batches.

Rows are buffered ``batch_size`` at a time and each batch is written as a staging part file, so
memory stays flat however many instances pass. On :meth:`ParquetSink.close` the parts (and the
rows of an earlier export to the same destination, for resumed runs) are rewritten, batch by
batch, with one schema unifying every column seen, into the final file or hive-partitioned
folder, which then replaces the old output atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from gantry.api import ExportError, ExportRecord, header_row
from gantry_parquet.batches import conform, rows_to_batch, unify
from gantry_parquet.columns import column_type
from gantry_parquet.options import ParquetOptions

if TYPE_CHECKING:
    import pyarrow as pa
    from pydicom import Dataset

    from gantry.api import ExportTarget, InstanceContext, Run

METADATA_KEY = b"gantry"
MARKER = "_gantry_parquet.json"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def local_path(to: str) -> Path:
    """The local path a ``file`` destination names."""
    return Path(to.removeprefix("file://"))


def row_digest(row: dict[str, Any]) -> str:
    """The sha256 of a row's canonical JSON (what the table holds for one instance)."""
    # rows are built in tag order, so the JSON is canonical without sorting keys
    return hashlib.sha256(json.dumps(row, default=_json_default,
                                     separators=(",", ":")).encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


class ParquetSink:
    """An :class:`~gantry.components.InstanceSink` writing one parquet row per instance."""

    def __init__(self, target: ExportTarget, run: Run | None = None) -> None:
        settings = dict(run.settings("gantry-parquet")) if run is not None else {}
        settings.update(target.options or {})
        try:
            self.options = ParquetOptions.model_validate(settings)
        except Exception as exc:
            raise ExportError(f"{target.to}: invalid parquet options: {exc}") from exc
        self.destination = target.to
        self.path = local_path(target.to).resolve()
        self.single_file = self.path.suffix.lower() == ".parquet"
        if self.single_file and self.options.partition_by:
            raise ExportError(f"{self.path}: a partitioned table is a folder; drop the .parquet "
                              "suffix or the partition_by option")
        self.run_id = run.run_id if run is not None else "run"
        self.profile = getattr(getattr(run, "profile", None), "name", "") if run else ""
        self._check_existing()
        self.staging = self.path.parent / f".{self.path.name}.parts-{self.run_id}"
        self._rows: list[dict[str, Any]] = []
        self._parts: list[Path] = []
        self._new_uids: set[str] = set()
        self.rows_written = 0

    # -- InstanceSink ---------------------------------------------------------------------------
    def target_path(self, dataset: Dataset, context: InstanceContext) -> str:
        """Rows have no file of their own: ``""``."""
        return ""

    def write(self, relpath: str, data: bytes, dataset: Dataset,
              context: InstanceContext) -> ExportRecord:
        """Buffer the row of one redacted header; flush a part when the batch is full."""
        row = header_row(dataset)
        self._rows.append(row)
        uid = str(row.get("SOPInstanceUID") or "")
        self._new_uids.add(uid)
        if len(self._rows) >= self.options.batch_size:
            self._flush()
        return ExportRecord(
            sop_instance_uid=context.instance.sop_instance_uid, new_sop_instance_uid=uid,
            destination=self.destination, path=self._relpath(row), size=0,
            sha256=row_digest(row), format="parquet",
        )

    def close(self) -> None:
        """Write the final table (merging an earlier export's rows) and remove the staging."""
        self._flush()
        try:
            self._finalize()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)

    # -- internals ------------------------------------------------------------------------------
    def _relpath(self, row: dict[str, Any]) -> str:
        if self.single_file:
            return self.path.name
        return "/".join(_partition_dir(k, row.get(k)) for k in self.options.partition_by)

    def _check_existing(self) -> None:
        if not self.path.exists():
            return
        if self.single_file:
            if not self.path.is_file() or _gantry_metadata(self.path) is None:
                raise ExportError(f"{self.path}: exists and was not written by gantry-parquet; "
                                  "remove it or choose another destination")
            return
        if self.path.is_file():
            raise ExportError(f"{self.path}: is a file; a parquet folder destination was expected "
                              "(name a file ending .parquet for a single file)")
        if any(self.path.iterdir()) and not (self.path / MARKER).is_file():
            raise ExportError(f"{self.path}: folder is not empty and holds no gantry-parquet "
                              "export; choose an empty or new folder")
        if (self.path / MARKER).is_file():
            previous = json.loads((self.path / MARKER).read_text()).get("partition_by", [])
            if previous != self.options.partition_by:
                raise ExportError(f"{self.path}: was partitioned by {previous}, not "
                                  f"{self.options.partition_by}; choose another destination")

    def _flush(self) -> None:
        if not self._rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        batch = rows_to_batch(self._rows)
        self.staging.mkdir(parents=True, exist_ok=True)
        part = self.staging / f"part-{len(self._parts):05d}.parquet"
        pq.write_table(pa.Table.from_batches([batch]), part, compression="snappy")
        self._parts.append(part)
        self.rows_written += len(self._rows)
        self._rows = []

    def _sources(self) -> list[tuple[Path, dict[str, Any], bool]]:
        """``(file, partition values, is_old)`` of every input of the final table."""
        sources: list[tuple[Path, dict[str, Any], bool]] = []
        if self.path.is_file():
            sources.append((self.path, {}, True))
        elif self.path.is_dir():
            for file in sorted(self.path.rglob("*.parquet")):
                values = {}
                for part in file.relative_to(self.path).parts[:-1]:
                    key, _, raw = part.partition("=")
                    values[key] = None if raw == NULL_PARTITION else unquote(raw)
                sources.append((file, values, True))
        sources.extend((part, {}, False) for part in self._parts)
        return sources

    def _finalize(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sources = self._sources()
        schemas = [pq.read_schema(file) for file, _values, _old in sources]
        partition_fields = [pa.field(k, column_type(k)) for k in self.options.partition_by]
        schema = unify([*schemas, pa.schema(partition_fields)]) if sources else pa.schema(
            [pa.field("SOPInstanceUID", pa.string())])
        meta = json.dumps({"run_id": self.run_id, "profile": self.profile,
                           "partition_by": self.options.partition_by,
                           "plugin": "gantry-parquet", "version": _version()})
        schema = schema.with_metadata({METADATA_KEY: meta.encode()})
        tmp = self.path.parent / f".{self.path.name}.tmp-{self.run_id}"
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        try:
            writer = _Writers(tmp, schema, self.options, self.single_file)
            try:
                for file, values, old in sources:
                    for batch in pq.ParquetFile(file).iter_batches(
                            batch_size=self.options.batch_size):
                        for key, value in values.items():
                            batch = batch.append_column(key, pa.array([value] * batch.num_rows,
                                                                      pa.string()))
                        batch = conform(_cast_partitions(batch, partition_fields), schema)
                        if old and self._new_uids and "SOPInstanceUID" in batch.schema.names:
                            batch = _drop_uids(batch, self._new_uids)
                        writer.write(batch)
            finally:
                writer.close()
            if not self.single_file:
                _carry_over(self.path, tmp)
                (tmp / MARKER).write_text(json.dumps(
                    {"partition_by": self.options.partition_by, "run_id": self.run_id,
                     "plugin": "gantry-parquet", "version": _version()}, indent=1))
            _swap(tmp, self.path)
        except BaseException:  # a full disk, an interrupt: no temporary output is left
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(
                missing_ok=True)
            raise


class _Writers:
    """One ``ParquetWriter`` for a single file, or one per partition folder."""

    def __init__(self, root: Path, schema: pa.Schema, options: ParquetOptions,
                 single: bool) -> None:
        import pyarrow as pa

        self.root = root
        self.schema = schema
        self.options = options
        self.single = single
        self.keys = options.partition_by
        self.file_schema = pa.schema([f for f in schema if f.name not in self.keys],
                                     metadata=schema.metadata)
        self.writers: dict[tuple[Any, ...], Any] = {}
        if single:
            root.parent.mkdir(parents=True, exist_ok=True)
            self._open((), root)
        else:
            root.mkdir(parents=True, exist_ok=True)

    def _open(self, key: tuple[Any, ...], path: Path) -> Any:
        import pyarrow.parquet as pq

        codec = None if self.options.compression == "none" else self.options.compression
        writer = pq.ParquetWriter(path, self.file_schema if not self.single else self.schema,
                                  compression=codec)
        self.writers[key] = writer
        return writer

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.single:
            self.writers[()].write_batch(batch, row_group_size=self.options.row_group_size)
            return
        if not self.keys:  # a folder without partitions: one file in it
            writer = self.writers.get(()) or self._open((), self.root / "part-0.parquet")
            writer.write_batch(batch, row_group_size=self.options.row_group_size)
            return
        table = pa.Table.from_batches([batch])
        keys = table.select(self.keys).group_by(self.keys).aggregate([]).to_pylist()
        for combo in keys:
            mask = None
            for key, value in combo.items():
                test = pc.is_null(table[key]) if value is None else pc.equal(table[key], value)
                mask = test if mask is None else pc.and_(mask, test)
            chunk = table.filter(mask).drop_columns(self.keys)
            key_tuple = tuple(combo[k] for k in self.keys)
            writer = self.writers.get(key_tuple)
            if writer is None:
                folder = self.root.joinpath(*(_partition_dir(k, combo[k]) for k in self.keys))
                folder.mkdir(parents=True, exist_ok=True)
                writer = self._open(key_tuple, folder / "part-0.parquet")
            writer.write_table(chunk.cast(self.file_schema),
                               row_group_size=self.options.row_group_size)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def _partition_dir(key: str, value: Any) -> str:
    if value is None or value == "":
        return f"{key}={NULL_PARTITION}"
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return f"{key}={quote(text, safe='')}"


def _cast_partitions(batch: pa.RecordBatch, fields: list[pa.Field]) -> pa.RecordBatch:
    """Partition values read back from folder names are text: cast them to their type."""
    for f in fields:
        if f.name in batch.schema.names and batch.schema.field(f.name).type != f.type:
            index = batch.schema.get_field_index(f.name)
            batch = batch.set_column(index, f, batch.column(index).cast(f.type))
    return batch


def _drop_uids(batch: pa.RecordBatch, uids: set[str]) -> pa.RecordBatch:
    import pyarrow as pa
    import pyarrow.compute as pc

    keep = pc.invert(pc.is_in(batch.column("SOPInstanceUID"), value_set=pa.array(list(uids))))
    return batch.filter(pc.fill_null(keep, True))


def _carry_over(old: Path, new: Path) -> None:
    """Keep files beside the table in an existing folder (manifests, notes) across the swap."""
    if not old.is_dir():
        return
    for item in old.iterdir():
        if item.name == MARKER or item.suffix == ".parquet" or "=" in item.name:
            continue
        if item.is_file() and not (new / item.name).exists():
            shutil.copy2(item, new / item.name)


def _swap(new: Path, final: Path) -> None:
    """Replace ``final`` by ``new``: renames only, the old output kept until the new is in."""
    if not final.exists():
        new.rename(final)
        return
    backup = final.parent / f".{final.name}.old"
    if backup.is_dir():
        shutil.rmtree(backup)
    else:
        backup.unlink(missing_ok=True)
    final.rename(backup)
    new.rename(final)
    if backup.is_dir():
        shutil.rmtree(backup)
    else:
        backup.unlink()


def _gantry_metadata(path: Path) -> dict[str, Any] | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception:
        return None
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else None


def _version() -> str:
    from gantry_parquet import __version__

    return __version__
