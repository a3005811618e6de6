"""Which UI elements are instance UIDs to replace, and which are well-known and kept."""

from __future__ import annotations

#: UI attributes that name a standard thing, not an instance: never remapped.
KEEP_UID_KEYWORDS = frozenset({
    "TransferSyntaxUID", "ImplementationClassUID", "CodingSchemeUID",
    "ContextGroupExtensionCreatorUID",
    "MappingResourceUID", "PrivateInformationCreatorUID", "ContextUID",
    "SpecificCharacterSet", "LongCodeValue", "SOPClassesInStudy", "DigitalSignatureUID",
    "MACCalculationTransferSyntaxUID", "EncryptedContentTransferSyntaxUID",
    "SelectorUIValue", "RelatedGeneralSOPClassUID", "InstanceCoercionDateTime",
    "StudyStatusID", "CodingSchemeRegistry", "ApplicationSetupCheck",
    "TemplateExtensionCreatorUID", "TemplateExtensionOrganizationUID",
    "SourceApplicationEntityTitle",
})

#: Root of UIDs defined by the DICOM standard itself (SOP classes, transfer syntaxes...).
DICOM_ROOT = "1.2.840.10008."


def is_well_known(uid: str) -> bool:
    """Whether ``uid`` is defined by the standard (or empty) and so carries no identity."""
    uid = uid.strip().rstrip("\x00")
    if not uid or uid.startswith(DICOM_ROOT):
        return True
    from pydicom.uid import UID_dictionary

    return uid in UID_dictionary


def keeps_uid(keyword: str) -> bool:
    """Whether a UI attribute is a class/syntax/scheme UID (kept) rather than an instance UID."""
    return keyword in KEEP_UID_KEYWORDS or keyword.endswith("ClassUID") or \
        keyword.endswith("ClassUIDInFile") or keyword.endswith("SyntaxUID")
