"""Generate Gantry's shipped table of attribute Types per IOD from highdicom's standard data.

Usage::

    python scripts/generate_iod_types.py [HIGHDICOM_STANDARD_DIR] [--check]

highdicom (MIT) ships three JSON files extracted from DICOM PS3.3 under
``highdicom/_standard/``: ``sop_class_iod_map.json`` (SOP Class UID → IOD),
``iod_module_map.json`` (IOD → modules) and ``module_attribute_map.json`` (module → attributes
with their Type and the sequence path they sit under). highdicom reads them only through private
functions, so this script reads the files themselves, found without importing highdicom, and
refuses any highdicom version but :data:`HIGHDICOM_VERSION`.

The output, ``profiles/ps3.3/iod_types.json.gz``, keeps what the engine needs: the SOP class map,
each IOD's modules, and per module the attributes of Type 1, 1C, 2 and 2C by sequence path
(Type 3 attributes are left out: removing them never makes an instance invalid). ``--check``
regenerates in memory and exits 1 when the shipped file differs. To move to a newer highdicom:
raise :data:`HIGHDICOM_VERSION` (and the pin in the root ``pyproject.toml``), install it, run
this script, and commit the new table.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from importlib import metadata, util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "profiles" / "ps3.3" / "iod_types.json.gz"
HIGHDICOM_VERSION = "0.28.2"
REQUIRED_TYPES = ("1", "1C", "2", "2C")
SOURCES = ("sop_class_iod_map.json", "iod_module_map.json", "module_attribute_map.json")


def highdicom_standard_dir() -> Path:
    """``highdicom/_standard`` of the installed highdicom (which must be the pinned version)."""
    spec = util.find_spec("highdicom")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"highdicom is not installed: pip install highdicom=={HIGHDICOM_VERSION}")
    version = metadata.version("highdicom")
    if version != HIGHDICOM_VERSION:
        raise SystemExit(f"highdicom {version} is installed; this table is pinned to "
                         f"{HIGHDICOM_VERSION} (raise HIGHDICOM_VERSION to move on)")
    return Path(next(iter(spec.submodule_search_locations))) / "_standard"


def build(source: Path, version: str = HIGHDICOM_VERSION) -> dict:
    """The compact table from the three highdicom files in ``source``."""
    raw = {name: (source / name).read_bytes() for name in SOURCES}
    sop_classes = json.loads(raw["sop_class_iod_map.json"])
    iods = json.loads(raw["iod_module_map.json"])
    modules = json.loads(raw["module_attribute_map.json"])
    used = {entry["key"] for entries in iods.values() for entry in entries}
    compact: dict[str, dict[str, dict[str, str]]] = {}
    for module in sorted(used):
        paths: dict[str, dict[str, str]] = {}
        for row in modules.get(module, ()):
            kind = row.get("type")
            if kind not in REQUIRED_TYPES:
                continue
            at = paths.setdefault(">".join(row["path"]), {})
            # one attribute twice at one path (two macros): the stronger Type wins
            if _RANK[kind] > _RANK.get(at.get(row["keyword"], ""), 0):
                at[row["keyword"]] = kind
        if paths:
            compact[module] = {p: dict(sorted(a.items())) for p, a in sorted(paths.items())}
    return {
        "source": f"highdicom {version}: highdicom/_standard/{{{','.join(SOURCES)}}} "
                  "(MIT; extracted from DICOM PS3.3 through innolitics/dicom-standard)",
        "highdicom": version,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()},
        "generated_by": "scripts/generate_iod_types.py",
        "types": list(REQUIRED_TYPES),
        "sop_classes": dict(sorted(sop_classes.items())),
        "iods": {iod: [[entry["key"], entry["usage"]] for entry in entries]
                 for iod, entries in sorted(iods.items())},
        "modules": compact,
    }


_RANK = {"2C": 1, "2": 2, "1C": 3, "1": 4}


def encode(table: dict) -> bytes:
    """The table as shipped: compact JSON, gzip without a timestamp (reproducible bytes)."""
    text = json.dumps(table, separators=(",", ":"), sort_keys=False).encode()
    return gzip.compress(text, compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``profiles/ps3.3/iod_types.json.gz``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path,
                        help="highdicom's _standard folder (default: the installed highdicom's)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the shipped table differs from a fresh build")
    args = parser.parse_args(argv)
    source = args.source or highdicom_standard_dir()
    data = encode(build(source))
    if args.check:
        same = OUTPUT.is_file() and OUTPUT.read_bytes() == data
        print(f"{OUTPUT.relative_to(ROOT)}: {'up to date' if same else 'differs'}")
        return 0 if same else 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
