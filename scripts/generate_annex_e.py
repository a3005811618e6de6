"""Generate Gantry's shipped Annex E table from a machine-readable copy of PS3.15 Table E.1-1.

Usage::

    python scripts/generate_annex_e.py [SOURCE_JSON] [--edition 2024b]

``SOURCE_JSON`` defaults to ``profiles/ps3.15/source/confidentiality_profile_attributes.json``
(the innolitics ``dicom-standard`` extraction). The output is
``profiles/ps3.15/annex_e_<edition>.json``: one row per attribute with its keyword (from
pydicom's dictionary), the Basic Profile action and the action under each option, keyed by
Gantry's option names. To move to a new edition: drop the new extraction into ``source/``, run
this script with ``--edition``, and point ``profiles/ps3.15/basic.yaml``'s ``edition`` at it.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT / "profiles" / "ps3.15" / "source" / "confidentiality_profile_attributes.json"

#: innolitics column name → Gantry option name (Table E.1-1 column order).
OPTION_COLUMNS = {
    "rtnSafePrivOpt": "retain-safe-private",
    "rtnUIDsOpt": "retain-uids",
    "rtnDevIdOpt": "retain-device-identity",
    "rtnInstIdOpt": "retain-institution-identity",
    "rtnPatCharsOpt": "retain-patient-characteristics",
    "rtnLongFullDatesOpt": "retain-longitudinal-full-dates",
    "rtnLongModifDatesOpt": "retain-longitudinal-modified-dates",
    "cleanDescOpt": "clean-descriptors",
    "cleanStructContOpt": "clean-structured-content",
    "cleanGraphOpt": "clean-graphics",
}
ACTIONS = {"D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "X/Z/D", "X/Z/U*", "Z/D"}
_TAG = re.compile(r"^\(([0-9A-Fa-fxX]{4}),([0-9A-Fa-fxX]{4})\)$")


def _keyword(tag: str) -> str:
    if "x" in tag.lower():
        return ""
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(int(tag, 16)) or ""


def convert(rows: list[dict], edition: str, source: str) -> dict:
    """Turn innolitics rows into Gantry's table (sorted by tag, validated)."""
    out = []
    for row in rows:
        match = _TAG.match(row["tag"])
        if match:
            tag = f"({match[1].upper()},{match[2].upper()})".replace("X", "x")
            hex8 = (match[1] + match[2]).lower()
        elif "ODD" in row["tag"].upper():
            tag, hex8 = "private", "private"
        else:
            raise SystemExit(f"unrecognised tag {row['tag']!r}")
        actions = {"basic": row["basicProfile"]}
        for column, option in OPTION_COLUMNS.items():
            if column in row:
                actions[option] = row[column]
        bad = {a for a in actions.values() if a not in ACTIONS}
        if bad:
            raise SystemExit(f"{row['tag']}: unknown action(s) {bad}")
        out.append({
            "tag": tag,
            "keyword": _keyword(hex8) if hex8 != "private" else "",
            "name": row["name"],
            "std_comp_iod": row.get("stdCompIOD") == "Y",
            **actions,
        })
    out.sort(key=lambda r: r["tag"])
    return {
        "table": "DICOM PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes",
        "edition": edition,
        "source": source,
        "generated_by": "scripts/generate_annex_e.py",
        "options": list(OPTION_COLUMNS.values()),
        "rows": out,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--edition", default="2024b")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = json.loads(args.source.read_text(encoding="utf-8"))
    origin = "innolitics/dicom-standard standard/confidentiality_profile_attributes.json (MIT)"
    table = convert(rows, args.edition, origin)
    out = args.out or ROOT / "profiles" / "ps3.15" / f"annex_e_{args.edition}.json"
    lines = ",\n".join("    " + json.dumps(r, sort_keys=False) for r in table.pop("rows"))
    head = json.dumps(table, indent=2)[:-2]
    out.write_text(f'{head},\n  "rows": [\n{lines}\n  ]\n}}\n', encoding="utf-8")
    print(f"wrote {out} ({len(rows)} rows, edition {args.edition})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
