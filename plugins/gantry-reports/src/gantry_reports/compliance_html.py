"""The HTML page of a compliance report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry_reports.htmlpage import cards, esc, page, table

if TYPE_CHECKING:
    from gantry_reports.compliance_record import InstanceResult

_CLASS = {"pass": "pass", "fail": "fail", "unverified": "warn"}


def _badge(outcome: str) -> str:
    return f'<span class="{_CLASS.get(outcome, "")}">{esc(outcome)}</span>'


def render(head: dict[str, Any], failing: list[InstanceResult], sha256: str) -> str:
    """The compliance report as one HTML page."""
    s = head["summary"]
    profile = head["profile"]
    verdict = head["verdict"]
    words = {"pass": "Every instance passes every rule that can be checked from the files.",
             "fail": "Some instances break rules of the profile (or none were found).",
             "unverified": "No rule is broken, but some rules cannot be verified from the files "
                           "alone (see below)."}[verdict]
    body = [f"<p>Verdict: {_badge(verdict)} — {esc(words)}</p>",
            cards([("instances", s["instances"]), ("pass", s["pass"]), ("fail", s["fail"]),
                   ("unverified", s["unverified"]), ("rules", s["rules"]),
                   ("rules failed", s["rules_failed"])]),
            f'<p class="meta">Dataset <code>{esc(head["dataset"])}</code> · profile '
            f'<code>{esc(profile["name"])}</code>, PS3.15 edition {esc(profile["edition"])}, '
            f'options {esc(", ".join(profile["options"]) or "none")} · generated '
            f'{esc(head["generated"])}</p>']
    if head.get("checked_against_originals"):
        body.append("<p>Checked against the originals in the working store that made the "
                    "export: the export gate re-run on every file, pseudonyms, remapped UIDs "
                    "and shifted dates.</p>")
    else:
        body.append("<p>Checked from the exported files alone (run with <code>--db</code> to "
                    "also check against the originals).</p>")
    conflicts = head.get("uid_conflicts") or []
    if conflicts:
        body.append("<h2>Inputs not written: UID conflicts</h2><p>Two input files with one SOP "
                    "Instance UID and different contents: the first was kept and written, the "
                    "other was not.</p>")
        body.append(table(["instance", "kept (written)", "written as", "not written"],
                          [(c["instance"], c["kept"], c["written"], c["not_written"])
                           for c in conflicts[:500]]))
    tools = head["tools"]
    body.append("<h2>Tools</h2>")
    body.append(table(["component", "version"],
                      [("gantry", tools["gantry"]), ("gantry-reports", tools["gantry-reports"]),
                       ("pydicom", tools["pydicom"]), ("python", tools["python"])]
                      + [(p["name"], p["version"]) for p in tools["plugins"]]))
    body.append("<h2>What this report could not verify</h2><ul>")
    for rule in head["could_not_verify"]["rules"][:200]:
        body.append(f"<li>rule <code>{esc(rule)}</code>: values present that the files alone "
                    "cannot prove were replaced, cleaned or shifted</li>")
    for item in head["could_not_verify"]["not_checked"]:
        body.append(f"<li>{esc(item)}</li>")
    body.append("</ul>")
    if failing:
        body.append("<h2>Failing instances</h2>")
        rows = []
        for result in failing:
            detail = "; ".join(f"{f['where']}: {f['detail']}" for f in result.failures[:8])
            if result.error:
                detail = result.error
            rows.append((result.path, result.sop_instance_uid, detail))
        body.append(table(["file", "SOP Instance UID", "failures"], rows))
        if s["fail"] > len(failing):
            body.append(f"<p>{s['fail'] - len(failing)} more in compliance.json.</p>")
    rules = sorted(head["rules"], key=lambda r: ({"fail": 0, "unverified": 1}.get(
        r["outcome"], 2), r["rule"]))
    body.append("<h2>Rules</h2><p class=\"meta\">Every instance is checked against every rule; "
                "a rule passes for an instance when its attribute is absent or handled as the "
                "rule says.</p>")
    body.append(table(["outcome", "rule", "action", "description", "pass", "fail", "unverified"],
                      ((_badge(r["outcome"]), r["rule"], r["action"], r["description"],
                        r["pass"], r["fail"], r["unverified"]) for r in rules),
                      numeric=[4, 5, 6], raw=[0]))
    body.append(f'<p class="meta">Report sha256 (compliance.json body): <code>{esc(sha256)}'
                "</code>; the sha256 of each report file is in its .sha256 file.</p>")
    return page("Compliance report", "".join(body),
                subtitle=f"{profile['name']} ({profile['edition']})")
