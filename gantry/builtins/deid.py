"""Built-in plugin: the PS3.15 Annex E engine as the ``ps315-tags`` redactor and the
``ps315-audit`` auditor, the keyed default decisions (``trylast``), and ``gantry reidentify``.

Module-level imports stay cheap: the engine, pydicom and cryptography load inside functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry import hookimpl
from gantry.components import Auditor, Redactor

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gantry.components import BytePass
    from gantry.context import InstanceContext, Run
    from gantry.records import Change, PatientKey, Pseudonym


class _TagRedactor:
    """``RedactorImpl`` wrapping one :class:`~gantry.deid.engine.DeidEngine` per run."""

    def __init__(self, run: Run) -> None:
        from gantry.deid.engine import DeidEngine

        self.run = run
        self.engine = DeidEngine(run.profile, run)
        self._passes: dict[tuple[int, ...], BytePass] = {}

    def redact(self, dataset: Any, context: InstanceContext) -> list[Change]:
        """Apply the profile's Annex E actions to ``dataset`` in place."""
        return self.engine.apply(dataset, context)

    def byte_pass(self, auditors: Sequence[Any]) -> BytePass | None:
        """The engine's byte pass (:class:`~gantry.deid.byte_pass.AnnexEBytePass`) for this
        stack, built once: offered without auditors or with the Annex E auditor alone, and not
        for a reversible profile (its encrypted originals are made from the full dataset)."""
        from gantry.deid.audit import DeidAuditor

        if self.run.profile.reversible.recipient_certificate or len(auditors) > 1 or \
                any(type(auditor) is not DeidAuditor for auditor in auditors):
            return None
        key = tuple(id(auditor) for auditor in auditors)
        found = self._passes.get(key)
        if found is None:
            from gantry.deid.byte_pass import AnnexEBytePass

            found = self._passes[key] = AnnexEBytePass(self.run, self.engine,
                                                       auditors[0] if auditors else None)
        return found


def _make_auditor(run: Run) -> Any:
    from gantry.deid.audit import DeidAuditor

    return DeidAuditor(run)


@hookimpl
def gantry_redactors() -> list[Redactor]:
    """Register ``ps315-tags``."""
    return [Redactor("ps315-tags", factory=_TagRedactor,
                     description="PS3.15 Annex E tag actions, UID/date/pseudonym keyed mapping")]


@hookimpl
def gantry_auditors() -> list[Auditor]:
    """Register ``ps315-audit``."""
    return [Auditor("ps315-audit", factory=_make_auditor,
                    description="what the profile changes, identifiers left in text, verdict")]


@hookimpl(trylast=True)
def gantry_map_uid(uid: str, run: Run) -> str:
    """Keyed default: ``2.25.<int>`` from HMAC-SHA256 with the project secret."""
    from gantry.deid.keys import keyed_uid

    return keyed_uid(run.secret, uid)


@hookimpl(trylast=True)
def gantry_pseudonym(patient: PatientKey, run: Run) -> Pseudonym:
    """Keyed default pseudonym from the patient's original identity."""
    from gantry.deid.keys import keyed_pseudonym

    return keyed_pseudonym(run.secret, patient)


@hookimpl(trylast=True)
def gantry_date_offset(patient: PatientKey, run: Run) -> int:
    """Keyed default date offset from the profile's ``date_offset_days`` range."""
    from gantry.deid.keys import keyed_date_offset

    low, high = run.profile.date_offset_days
    return keyed_date_offset(run.secret, patient, low, high)


@hookimpl
def gantry_commands(cli: Any) -> None:
    """Add ``gantry reidentify``."""
    import click

    @cli.command("reidentify")
    @click.argument("src", type=click.Path(exists=True, dir_okay=True))
    @click.argument("dest", type=click.Path())
    @click.option("--key", "key_path", required=True, type=click.Path(exists=True),
                  help="recipient private key (PEM or DER)")
    @click.option("--cert", "cert_path", required=True, type=click.Path(exists=True),
                  help="recipient certificate (PEM or DER)")
    @click.option("--password-env", default=None,
                  help="environment variable holding the private key's password")
    def reidentify_command(src: str, dest: str, key_path: str, cert_path: str,
                           password_env: str | None) -> None:
        """Recover original attributes from the Encrypted Attributes Sequence (PS3.15 E.1.2).

        Files in SRC that are not DICOM (the manifests and reports an export writes beside
        the instances) are skipped and counted as such, not as failures."""
        import os
        from pathlib import Path

        from gantry.deid.reversible import load_certificate, load_private_key, reidentify_file

        password = os.environ.get(password_env, "").encode() if password_env else None
        key = load_private_key(key_path, password or None)
        cert = load_certificate(cert_path)
        source, target = Path(src), Path(dest)
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*")
                                                         if p.is_file())
        done = failed = skipped = 0
        for path in files:
            out = target if source.is_file() else target / path.relative_to(source)
            try:
                outcome = reidentify_file(path, out, key, cert)
            except Exception as exc:
                failed += 1
                reason = str(exc) if isinstance(exc, ValueError | OSError) else \
                    f"{type(exc).__name__}: {exc}"
                click.echo(f"{path}: {reason}", err=True)
                continue
            if outcome == "not-dicom":
                skipped += 1
            else:
                done += 1
        extra = f", {skipped} not DICOM skipped" if skipped else ""
        click.echo(f"reidentified {done} file(s), {failed} failed{extra}")
        if failed:
            raise SystemExit(1)
