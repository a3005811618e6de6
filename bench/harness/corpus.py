"""Synthetic benchmark corpora with planted identifiers.

Instances come from :func:`gantry.testing.factory.make_instance` (names, IDs, addresses, free
text, private tags, nested sequences, an overlay comment), with pixel data made unique per
instance so a checker can tell whether a tool kept every image intact. Corpora are cached under
the bench cache folder by kind and size; ``tokens.json`` lists every planted identifier.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

#: Corpus kinds: pixel-heavy CT (rows x rows, 16 bit) and metadata-only (16 x 16 pixels).
KINDS = ("ct", "meta")
PER_SERIES = 100
SERIES_PER_STUDY = 2
VERSION = 2  # bump when the generator changes, so cached corpora are rebuilt


@dataclass(frozen=True)
class Corpus:
    """A generated corpus: its folder, instance count, total bytes and planted tokens."""

    kind: str
    root: Path
    instances: int
    rows: int
    nbytes: int
    tokens: tuple[str, ...]
    pixel_digests: tuple[str, ...]

    @property
    def label(self) -> str:
        """``ct-2000x512`` style name for tables."""
        return f"{self.kind}-{self.instances}x{self.rows}"


def _layout(n: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(index, patient, study, series, instance) for ``n`` instances, 100 per series."""
    for index in range(n):
        series_global, instance = divmod(index, PER_SERIES)
        patient, series = divmod(series_global, SERIES_PER_STUDY)
        yield index, patient, 0, series, instance


def _write_chunk(args: tuple[str, int, list[tuple[int, int, int, int, int]]]
                 ) -> tuple[int, set[str], list[str]]:
    import numpy as np

    from gantry.testing.factory import make_instance, planted_tokens

    root, rows, chunk = args
    nbytes = 0
    tokens: set[str] = set()
    digests: list[str] = []
    for index, patient, study, series, instance in chunk:
        ds = make_instance(patient=patient, study=study, series=series, instance=instance,
                           rows=rows, cols=rows)
        # the factory seeds pixels by position, which repeats for large series: make them unique
        rng = np.random.default_rng(index + 1)
        pixels = rng.integers(0, 4096, size=(rows, rows), dtype=np.uint16).tobytes()
        ds.PixelData = pixels
        digests.append(hashlib.sha256(pixels).hexdigest())
        tokens |= planted_tokens(ds)
        folder = Path(root) / f"p{patient:04d}" / f"se{series}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"i{instance:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        nbytes += path.stat().st_size
    return nbytes, tokens, digests


def build(kind: str, instances: int, rows: int, cache: Path, *, jobs: int | None = None,
          log=print) -> Corpus:
    """Build (or reuse from ``cache``) a corpus of ``instances`` files of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"corpus kind {kind!r} is unknown (choose from {', '.join(KINDS)})")
    if instances < 1:
        raise ValueError(f"--instances must be at least 1, got {instances}")
    rows = rows if kind == "ct" else 16
    name = f"{kind}-{instances}x{rows}-v{VERSION}"
    root = cache / "corpora" / name
    meta_path = cache / "corpora" / f"{name}.json"
    if meta_path.exists() and root.is_dir():
        meta = json.loads(meta_path.read_text())
        return Corpus(kind, root, instances, rows, meta["nbytes"], tuple(meta["tokens"]),
                      tuple(meta["pixel_digests"]))
    log(f"building corpus {name} under {root} ...")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    layout = list(_layout(instances))
    jobs = jobs or os.cpu_count() or 1
    size = max(1, min(500, len(layout) // (jobs * 4) or 1))
    chunks = [(str(root), rows, layout[i:i + size]) for i in range(0, len(layout), size)]
    nbytes, tokens, digests = 0, set(), []
    with ProcessPoolExecutor(jobs) as pool:
        for chunk_bytes, chunk_tokens, chunk_digests in pool.map(_write_chunk, chunks):
            nbytes += chunk_bytes
            tokens |= chunk_tokens
            digests += chunk_digests
    meta_path.write_text(json.dumps({"nbytes": nbytes, "tokens": sorted(tokens),
                                     "pixel_digests": sorted(digests)}))
    (root.parent / f"{name}.tokens.json").write_text(json.dumps(sorted(tokens), indent=0))
    return Corpus(kind, root, instances, rows, nbytes, tuple(sorted(tokens)),
                  tuple(sorted(digests)))
