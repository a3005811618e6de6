"""De-identification markers: PatientIdentityRemoved, DeidentificationMethod(+CodeSequence),
LongitudinalTemporalInformationModified."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.deid.rules import cid7050

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.profiles import Profile


def method_codes(profile: Profile) -> list[tuple[str, str, str]]:
    """CID 7050 ``(code value, scheme, meaning)`` of the basic profile and the active options."""
    codes = cid7050()
    out = [(codes["basic"][0], "DCM", codes["basic"][1])]
    for option in profile.options:
        if option in codes:
            out.append((codes[option][0], "DCM", codes[option][1]))
    return out


def longitudinal_state(profile: Profile) -> str:
    """``MODIFIED`` (dates shifted), ``UNMODIFIED`` (full dates kept) or ``REMOVED``."""
    if profile.has("retain-longitudinal-modified-dates"):
        return "MODIFIED"
    if profile.has("retain-longitudinal-full-dates"):
        return "UNMODIFIED"
    return "REMOVED"


def set_markers(ds: Dataset, profile: Profile, walk: Any = None) -> None:
    """Write the de-identification markers into ``ds`` (replacing any already there)."""
    from pydicom.dataset import Dataset as Item
    from pydicom.sequence import Sequence

    from gantry import __version__

    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [
        f"Gantry {__version__}",
        f"PS3.15 Annex E {profile.edition}",
        f"profile {profile.name}"[:64],
    ]
    items = []
    for value, scheme, meaning in method_codes(profile):
        item = Item()
        item.CodeValue = value
        item.CodingSchemeDesignator = scheme
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.LongitudinalTemporalInformationModified = longitudinal_state(profile)
    if walk is not None:
        for keyword, tag in (("PatientIdentityRemoved", 0x00120062),
                             ("DeidentificationMethod", 0x00120063),
                             ("DeidentificationMethodCodeSequence", 0x00120064),
                             ("LongitudinalTemporalInformationModified", 0x00280303)):
            walk.change("marker", tag, keyword, "")
