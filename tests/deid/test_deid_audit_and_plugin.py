"""The ps315-audit findings and the built-in plugin's registrations."""

from __future__ import annotations

import copy

from gantry.builtins import deid as plugin
from gantry.deid.audit import DeidAuditor
from gantry.deid.standalone import instance_context
from gantry.records import PatientKey
from gantry.testing.factory import make_instance


def test_audit_before_and_after(make_engine, deidentify):
    engine = make_engine()
    auditor = DeidAuditor(engine.run)
    ds = make_instance()
    before = copy.deepcopy(ds)
    findings = auditor.audit(ds, instance_context(ds, engine.run))
    assert ds == before  # not modified
    codes = {f.code for f in findings}
    assert {"planned-change", "phi-in-text", "unknown-private-tag", "verdict"} <= codes
    verdict = next(f for f in findings if f.code == "verdict")
    assert verdict.severity == "info" and verdict.extra["remaining"] == 0
    for finding in findings:
        assert "quillfeather" not in finding.message.lower()
    ctx = instance_context(ds, engine.run)
    from gantry.deid.identifiers import collect_identifiers

    ctx.identifiers = collect_identifiers(ds, ctx.patient)
    deidentify(engine, ds)
    after = auditor.audit(ds, ctx)
    assert [f.code for f in after] == ["verdict"]
    ds.ImageComments = "Quillfeather again"
    again = auditor.audit(ds, ctx)
    assert {f.code for f in again} == {"phi-remaining", "verdict"}
    assert next(f for f in again if f.code == "verdict").severity == "error"


def test_plugin_registers_components(basic_profile):
    (redactor,) = plugin.gantry_redactors()
    (auditor,) = plugin.gantry_auditors()
    assert redactor.name == "ps315-tags" and auditor.name == "ps315-audit"
    from gantry.deid.standalone import standalone_run

    run = standalone_run(basic_profile, b"s" * 32)
    impl = redactor.factory(run)
    ds = make_instance()
    changes = impl.redact(ds, instance_context(ds, run))
    assert changes and ds.PatientIdentityRemoved == "YES"
    assert plugin.gantry_map_uid(uid="1.2.3", run=run).startswith("2.25.")
    offset = plugin.gantry_date_offset(patient=PatientKey("x"), run=run)
    assert -3650 <= offset <= -365
    assert plugin.gantry_pseudonym(patient=PatientKey("x"), run=run).patient_id.startswith("GP-")


def test_decision_hooks_are_trylast():
    for hook in (plugin.gantry_map_uid, plugin.gantry_pseudonym, plugin.gantry_date_offset):
        assert hook.gantry_impl["trylast"] is True


def test_plugin_module_import_is_cheap():
    import subprocess
    import sys

    code = ("import sys, gantry.builtins.deid; "
            "print(any(m.startswith(('pydicom', 'cryptography')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_reidentify_command_registered():
    import click

    @click.group()
    def cli():
        pass

    plugin.gantry_commands(cli=cli)
    assert "reidentify" in cli.commands
