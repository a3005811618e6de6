"""Keyed defaults for the decision hooks: UIDs, pseudonyms and date offsets from HMAC-SHA256.

Every value is a pure function of the project secret and the original value, so the same input
gives the same output on any machine, process or run, and a different secret gives unlinkable
output. These are registered as ``trylast`` hookimpls by :mod:`gantry.builtins.deid`.
"""

from __future__ import annotations

import hashlib
import hmac

from gantry.records import PatientKey, Pseudonym

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _mac(secret: bytes, domain: str, value: str) -> bytes:
    return hmac.new(secret, f"{domain}\x00{value}".encode(), hashlib.sha256).digest()


def keyed_uid(secret: bytes, uid: str) -> str:
    """Map a UID to ``2.25.<integer>`` from 128 bits of its HMAC (PS3.5 B.2 UUID-derived form)."""
    digest = _mac(secret, "uid", uid.strip().rstrip("\x00"))
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def patient_identity(patient: PatientKey) -> str:
    """The string a patient's keyed values derive from: issuer + ID, else the name."""
    if patient.patient_id:
        return f"id\x00{patient.issuer}\x00{patient.patient_id}"
    return f"name\x00{patient.patient_name}\x00{patient.birth_date}"


def keyed_pseudonym(secret: bytes, patient: PatientKey) -> Pseudonym:
    """A deterministic pseudonymous ID (``GP-`` + 12 characters) and name for a patient."""
    digest = _mac(secret, "patient", patient_identity(patient))
    number = int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(12):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    code = "".join(chars)
    return Pseudonym(patient_id=f"GP-{code}", patient_name=f"ANON^{code}")


def keyed_date_offset(secret: bytes, patient: PatientKey, low: int, high: int) -> int:
    """A per-patient date shift in days, drawn uniformly from ``[low, high]`` with the HMAC."""
    if high < low:
        low, high = high, low
    digest = _mac(secret, "date-offset", patient_identity(patient))
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)
