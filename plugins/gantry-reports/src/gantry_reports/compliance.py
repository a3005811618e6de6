"""Compliance of an exported dataset with a privacy profile: every instance against every rule.

Rules are the profile's resolved Table E.1-1 rows (options and overrides applied, compound
actions resolved per IOD and sequence path), its group masks, the private-attribute rule, the
defaults for attributes the table does not name (instance UIDs, dates, unknown text), the PS3.15
markers, and burned-in annotation. Each check ends in one of three outcomes:

* ``pass`` — the file shows the rule was followed (absent, empty, a known dummy, a remapped
  ``2.25.`` UID, a marker with the right value);
* ``fail`` — the file shows it was not (an attribute to remove is present, a marker is wrong);
* ``unverified`` — the file alone cannot tell (a cleaned text, a shifted date, a pseudonym:
  proving those needs the originals). The report says so, rule by rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry_reports.compliance_record import FAIL, PASS, UNVERIFIED, InstanceResult, RuleStats
from gantry_reports.manifest import MANIFEST_NAMES

if TYPE_CHECKING:
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

    from gantry.api import Profile, RuleSet

_PN, _PID = 0x00100010, 0x00100020
_REASONS = {
    "C": "cleaned or shifted values cannot be told apart from originals without the originals",
    "D": "a replacement value that is not Gantry's dummy cannot be told apart from an original",
    "Z": "a non-empty value is allowed only if it is a dummy; the file alone cannot tell",
    "U": "a UID not in the 2.25 form of Gantry's keyed mapping may not have been replaced",
    "pseudonym": "pseudonymous names and IDs cannot be told apart from originals without them",
    "pixels": "pixel cleaning cannot be proven from the file (burned-in text was not OCR'd)",
}
NOT_CHECKED = [
    "Burned-in text in pixel data (no OCR is run by this report: use `gantry audit` with the "
    "gantry-ocr plugin on the working store, or inspect the thumbnails).",
    "Identifying values inside free text, beyond the rules above (requires the original "
    "identifiers, which only the working store has).",
    "Whether date shifts are consistent per patient, and whether pseudonyms and UIDs map the "
    "same originals consistently (requires the originals and the project secret).",
    "Non-DICOM files in the dataset (listed, not checked).",
]


NOT_CHECKED_WITH_ORIGINALS = [
    NOT_CHECKED[0],
    "Pseudonyms, UIDs and dates inside sequence items are not matched one by one to the "
    "originals (the export gate re-run still looks for every original identifier everywhere).",
    "Instances the given store did not export are checked from the file alone.",
    NOT_CHECKED[3],
]


class Checker:
    """Checks datasets against one resolved profile."""

    def __init__(self, profile: Profile, originals: Any = None) -> None:
        from gantry.api import build_rules

        self.profile = profile
        self.originals = originals
        self.rules: RuleSet = build_rules(profile)
        options = set(profile.options)
        self.retain_uids = "retain-uids" in options
        self.modified_dates = "retain-longitudinal-modified-dates" in options
        self.full_dates = "retain-longitudinal-full-dates" in options
        self.clean_pixels = "clean-pixel-data" in options
        self.remove_unknown = profile.unknown_attributes == "remove"
        self.stats: dict[str, RuleStats] = {}
        self._register_rules()

    # -- the rule list -----------------------------------------------------------------------
    def _register_rules(self) -> None:
        from gantry.api import resolve_compound

        for tag, action in sorted(self.rules.exact.items()):
            keyword = self.rules.keywords.get(tag, "")
            shown = action if "/" not in action else \
                f"{action} (per IOD: D where Type 1, Z where Type 2, else " \
                f"{resolve_compound(action, keyword, None)})"
            self._rule(_rule_id(tag, keyword), shown, f"Table E.1-1 / profile: {keyword}")
        for mask, value, action in self.rules.masks:
            self._rule(_mask_id(mask, value), action, "group mask (curves, overlays...)")
        self._rule("private", self.rules.private_default,
                   "private attributes: removed unless on the safe list or kept by the profile")
        self._rule("default:uids", "U", "instance UIDs the table does not name are remapped")
        date_action = "C" if self.modified_dates else "K" if self.full_dates else "X"
        self._rule("default:dates", date_action, "dates the table does not name")
        if self.remove_unknown:
            self._rule("default:unknown", "X", "text attributes the table does not name")
        for marker in ("PatientIdentityRemoved", "DeidentificationMethod",
                       "DeidentificationMethodCodeSequence",
                       "LongitudinalTemporalInformationModified"):
            self._rule(f"marker:{marker}", "set", "PS3.15 de-identification marker")
        self._rule("burned-in-annotation", "check",
                   "BurnedInAnnotation=YES needs the Clean Pixel Data option")
        if self.originals is not None:
            from gantry_reports.originals import RULE_FOUND, RULE_GATE

            self._rule(RULE_FOUND, "check", "the instance was exported from the given store")
            self._rule(RULE_GATE, "check", "no identifying value of the original remains in "
                       "the exported bytes or path (the export gate, re-run; pixel data aside)")

    def _rule(self, rule: str, action: str, description: str) -> None:
        self.stats.setdefault(rule, RuleStats(rule, action, description))

    # -- checking ------------------------------------------------------------------------------
    def check(self, ds: Dataset, result: InstanceResult, data: bytes = b"") -> None:
        """Check one dataset, recording outcomes in ``result`` and the rule counters.

        ``data`` (the file's bytes) is needed only when checking against the originals.
        """
        from gantry.api import iod_of

        result.sop_instance_uid = str(ds.get("SOPInstanceUID", ""))
        if self.originals is not None:
            from gantry_reports.originals import RULE_FOUND, RULE_GATE

            if self.originals.begin(ds):
                for leak in self.originals.leaks(data, result.path):
                    self._outcome(result, RULE_GATE, FAIL, "file", leak)
            else:
                self._outcome(result, RULE_FOUND, UNVERIFIED, "file",
                              "not exported from this store: checked from the file alone")
        iod = iod_of(str(ds.get("SOPClassUID", "")))
        self._walk(ds, (iod, ()), result, "", "normal")
        self._markers(ds, result)

    def _outcome(self, result: InstanceResult, rule: str, outcome: str, where: str,
                 detail: str) -> None:
        stats = self.stats.get(rule)
        if stats is None:
            stats = self.stats[rule] = RuleStats(rule, "?", detail)
        if outcome == FAIL:
            stats.fail += 1
            if len(stats.examples) < 5:
                stats.examples.append(result.path)
            result.failures.append({"rule": rule, "where": where, "detail": detail})
        elif outcome == UNVERIFIED:
            stats.unverified += 1
            result.unverified[rule] = result.unverified.get(rule, 0) + 1

    def _walk(self, ds: Dataset, at: tuple[str | None, tuple[str, ...]],
              result: InstanceResult, path: str, mode: str) -> None:
        """Check the elements of ``ds``, which sits in the IOD ``at[0]`` inside the sequence
        path ``at[1]`` (the engine resolves its actions there)."""
        level = self.rules.level(*at)
        actions = level.actions
        creators = _creators(ds)
        for elem in ds:
            tag = int(elem.tag)
            group, element = tag >> 16, tag & 0xFFFF
            where = f"{path}{elem.keyword or _tag(tag)}"
            if group & 1:
                if 0x10 <= element <= 0xFF or element < 0x10:
                    continue  # creators follow their blocks; group lengths carry nothing
                creator = creators.get((group, element >> 8))
                action = self.rules.private_action(creator, group, element & 0xFF)
                if action == "X":
                    self._outcome(result, "private", FAIL, where,
                                  f"private attribute of creator {creator!r} is present")
                    continue
                self._element(elem, tag, action, "private", at, result, where, mode)
                continue
            if element == 0 or group == 0x0002:
                continue
            action = actions.get(tag)
            rule = _rule_id(tag, self.rules.keywords.get(tag, ""))
            if action is None:
                mask = self.rules.mask_action(tag)
                if mask is not None:
                    action, rule = mask, self._mask_rule(tag)
            if action is None:
                action, rule = self._default(elem, mode)
                kind = level.types.get(elem.keyword) if action in ("X", "Z") else None
                if kind is not None:  # the engine keeps what the IOD needs
                    from gantry.api import conformant_action

                    action = conformant_action(action, kind)
                if action is None:
                    continue
            self._element(elem, tag, action, rule, at, result, where, mode)

    def _mask_rule(self, tag: int) -> str:
        for mask, value, _action in self.rules.masks:
            if tag & mask == value:
                return _mask_id(mask, value)
        return "mask"

    def _default(self, elem: DataElement, mode: str) -> tuple[str | None, str]:
        from gantry.api import STRUCTURAL, TEXT_VRS, keeps_uid

        vr, keyword = elem.VR, elem.keyword
        if vr == "UI":
            return (None if keeps_uid(keyword) or self.retain_uids else "U"), "default:uids"
        if vr in ("DA", "DT", "TM"):
            if self.modified_dates:
                return "C", "default:dates"
            return ("K" if self.full_dates or vr == "TM" else "X"), "default:dates"
        if vr == "SQ":
            return "K", "default:sequences"
        if mode != "normal" and vr in TEXT_VRS and keyword not in STRUCTURAL:
            return ("D" if mode == "dummy" else "C"), "default:items"
        if (vr in TEXT_VRS or vr == "UN") and self.remove_unknown:
            return "X", "default:unknown"
        return None, ""

    def _element(self, elem: DataElement, tag: int, action: str, rule: str,
                 at: tuple[str | None, tuple[str, ...]], result: InstanceResult, where: str,
                 mode: str) -> None:
        from gantry.api import dummy_value, is_well_known

        value = elem.value
        if self.originals is not None and action != "X" and elem.VR != "SQ":
            verdict = self.originals.verify(tag, where, value, action, elem.VR)
            if verdict == PASS:
                return
            if verdict == FAIL:
                self._outcome(result, rule, FAIL, where,
                              "differs from what the profile makes of the original value")
                return
        empty = value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0)
        if action == "X":
            self._outcome(result, rule, FAIL, where, "present; the rule removes it")
            return
        if elem.VR == "SQ":
            if action == "Z" and not empty:
                self._outcome(result, rule, FAIL, where, "sequence not emptied")
                return
            inner = {"D": "dummy", "C": "clean"}.get(action, mode)
            inner_at = (at[0], (*at[1], elem.keyword or _tag(tag)))
            for i, item in enumerate(value or ()):
                self._walk(item, inner_at, result, f"{where}[{i}].", inner)
            return
        if action == "K" or empty:
            return
        top_identity = tag in (_PN, _PID) and "." not in where
        if action in ("D", "Z") and top_identity:
            self._outcome(result, rule, UNVERIFIED, where, _REASONS["pseudonym"])
            return
        if action == "U" or (action == "D" and elem.VR == "UI"):
            for uid in _as_list(value):
                text = str(uid)
                if self.retain_uids or text.startswith("2.25.") or is_well_known(text):
                    continue
                self._outcome(result, rule, UNVERIFIED, where, _REASONS["U"])
                return
            return
        if action == "D":
            override = self.rules.values.get(tag)
            dummy = override if override is not None else dummy_value(elem.VR, elem.keyword)
            if _same(value, dummy):
                return
            self._outcome(result, rule, UNVERIFIED, where, _REASONS["D"])
            return
        if action == "Z":
            if _same(value, dummy_value(elem.VR, elem.keyword)):
                return
            self._outcome(result, rule, UNVERIFIED, where, _REASONS["Z"])
            return
        if action == "C":
            self._outcome(result, rule, UNVERIFIED, where, _REASONS["C"])
            return
        self._outcome(result, rule, UNVERIFIED, where, f"action {action} is not checked")

    def _markers(self, ds: Dataset, result: InstanceResult) -> None:
        from gantry.api import longitudinal_state, method_codes

        if str(ds.get("PatientIdentityRemoved", "")).upper() != "YES":
            self._outcome(result, "marker:PatientIdentityRemoved", FAIL, "PatientIdentityRemoved",
                          "not YES")
        if not ds.get("DeidentificationMethod"):
            self._outcome(result, "marker:DeidentificationMethod", FAIL,
                          "DeidentificationMethod", "missing")
        found = {(str(i.get("CodeValue", "")), str(i.get("CodingSchemeDesignator", "")))
                 for i in ds.get("DeidentificationMethodCodeSequence", None) or ()}
        missing = [f"{v} ({m})" for v, s, m in method_codes(self.profile) if (v, s) not in found]
        if missing:
            self._outcome(result, "marker:DeidentificationMethodCodeSequence", FAIL,
                          "DeidentificationMethodCodeSequence",
                          "missing CID 7050 code(s): " + ", ".join(missing))
        expected = longitudinal_state(self.profile)
        actual = str(ds.get("LongitudinalTemporalInformationModified", ""))
        if actual != expected:
            self._outcome(result, "marker:LongitudinalTemporalInformationModified", FAIL,
                          "LongitudinalTemporalInformationModified",
                          f"is {actual or 'missing'}, expected {expected}")
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
            if self.clean_pixels:
                self._outcome(result, "burned-in-annotation", UNVERIFIED, "BurnedInAnnotation",
                              _REASONS["pixels"])
            elif getattr(self.profile, "burned_in", "refuse") == "allow":
                self._outcome(result, "burned-in-annotation", UNVERIFIED, "BurnedInAnnotation",
                              "burned-in text released without pixel cleaning: the profile "
                              "says burned_in: allow")
            else:
                self._outcome(result, "burned-in-annotation", FAIL, "BurnedInAnnotation",
                              "burned-in annotation and the profile does not clean pixel data")


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _same(value: Any, expected: Any) -> bool:
    if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
        return all(_same(v, expected) for v in value)
    try:
        return str(value) == str(expected) or float(value) == float(expected)
    except (TypeError, ValueError):
        return False


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _rule_id(tag: int, keyword: str) -> str:
    return f"{_tag(tag)} {keyword}".strip()


def _mask_id(mask: int, value: int) -> str:
    digits = "".join("x" if (mask >> (4 * i)) & 0xF == 0 else f"{(value >> (4 * i)) & 0xF:X}"
                     for i in reversed(range(8)))
    return f"({digits[:4]},{digits[4:]})"


def _creators(ds: Dataset) -> dict[tuple[int, int], str]:
    out = {}
    for elem in ds:
        tag = int(elem.tag)
        if (tag >> 16) & 1 and 0x10 <= tag & 0xFFFF <= 0xFF:
            out[(tag >> 16, tag & 0xFF)] = str(elem.value or "").strip()
    return out


def dataset_files(root: Path) -> Iterator[Path]:
    """Every file of an exported dataset, sorted, without Gantry's own report files."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(MANIFEST_NAMES) or path.name.startswith("."):
            continue
        yield path


def check_dataset(root: Path, profile: Profile, *, out_dir: Path,
                  originals: Any = None) -> dict[str, Any]:
    """Check every instance under ``root``; write ``compliance.json`` and ``compliance.html``
    (and ``.sha256`` files) into ``out_dir``; return the report's summary.

    ``originals`` (:class:`gantry_reports.originals.Originals`) also checks each instance
    against its original in the working store that exported it.
    """
    import io

    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    checker = Checker(profile, originals)
    counts = {PASS: 0, FAIL: 0, UNVERIFIED: 0}
    skipped: list[str] = []
    failing: list[InstanceResult] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        total = 0
        for path in dataset_files(root):
            rel = str(path.relative_to(root))
            try:
                data = path.read_bytes() if originals is not None else b""
                ds = dcmread(io.BytesIO(data) if data else path, stop_before_pixels=True)
            except (InvalidDicomError, OSError, ValueError, EOFError):
                skipped.append(rel)
                continue
            total += 1
            result = InstanceResult(rel)
            try:
                checker.check(ds, result, data)
            except Exception as exc:  # a malformed element: this instance fails, the report goes on
                result.error = f"could not be checked: {type(exc).__name__}: {exc}"
            counts[result.verdict] += 1
            if result.verdict == FAIL and len(failing) < 500:
                failing.append(result)
            spool.write(json.dumps({"path": rel, "sop_instance_uid": result.sop_instance_uid,
                                    "verdict": result.verdict, "failures": result.failures,
                                    "unverified": result.unverified, "error": result.error}) + "\n")
        from gantry_reports.versions import tool_versions

        rules = []
        for stats in checker.stats.values():
            outcome = FAIL if stats.fail else UNVERIFIED if stats.unverified else PASS
            rules.append({"rule": stats.rule, "action": stats.action,
                          "description": stats.description, "outcome": outcome,
                          "instances_checked": total, "pass": total - stats.fail - stats.unverified,
                          "fail": stats.fail, "unverified": stats.unverified,
                          "fail_examples": stats.examples})
        verdict = FAIL if counts[FAIL] or total == 0 else UNVERIFIED if counts[UNVERIFIED] else PASS
        unverified_rules = sorted({r["rule"] for r in rules if r["unverified"]})
        head = {
            "report": "gantry compliance", "report_version": 1,
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "dataset": str(root), "profile": {"name": profile.name, "edition": profile.edition,
                                              "options": list(profile.options),
                                              "source": profile.source},
            "tools": tool_versions(), "verdict": verdict,
        "checked_against_originals": originals is not None,
            "summary": {"instances": total, "pass": counts[PASS], "fail": counts[FAIL],
                        "unverified": counts[UNVERIFIED], "rules": len(rules),
                        "rules_failed": sum(1 for r in rules if r["fail"]),
                        "non_dicom_files": len(skipped)},
            "could_not_verify": {"rules": unverified_rules, "reasons": _REASONS,
                                 "not_checked": NOT_CHECKED if originals is None
                             else NOT_CHECKED_WITH_ORIGINALS},
            "non_dicom_files": skipped[:1000],
            "rules": rules,
        }
        if originals is not None:  # inputs lost to a UID conflict: both files named
            head["uid_conflicts"] = originals.conflicts()
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path = out_dir / "compliance.json"
        body_digest = hashlib.sha256()
        with json_path.open("w", encoding="utf-8") as fh:
            text = json.dumps(head, indent=1)[:-2] + ',\n "instances": ['
            fh.write(text)
            body_digest.update(text.encode())
            spool.seek(0)
            for i, line in enumerate(spool):
                chunk = ("," if i else "") + "\n  " + line.rstrip("\n")
                fh.write(chunk)
                body_digest.update(chunk.encode())
            tail = "\n ]"
            fh.write(tail)
            body_digest.update(tail.encode())
            sha = body_digest.hexdigest()
            fh.write(f',\n "report_sha256": "{sha}",\n "report_sha256_covers": "every byte of this '
                     'file before the report_sha256 line, without the comma and newline that '
                     'start it"\n}\n')
    from gantry_reports.compliance_html import render

    html_path = out_dir / "compliance.html"
    html_path.write_text(render(head, failing, sha), encoding="utf-8")
    for path in (json_path, html_path):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return {"verdict": verdict, "json": str(json_path), "html": str(html_path),
            "report_sha256": sha, **head["summary"]}
