"""Opt-in reversibility per PS3.15 E.1.2: originals kept in the Encrypted Attributes Sequence.

The original values of every top-level attribute the engine changed or removed are encoded (a
Modified Attributes Sequence item, Explicit VR Little Endian), wrapped in CMS enveloped data
(AES-256, ``cryptography``) to the recipient certificate named by the profile, and stored in
Encrypted Attributes Sequence (0400,0500). Only the holder of the matching private key can
recover them with :func:`reidentify`; nothing is kept in clear.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.profiles import ReversibleSettings

EXPLICIT_LE = "1.2.840.10008.1.2.1"
_SKIP = frozenset({0x7FE00010, 0x04000500, 0x00120062, 0x00120063, 0x00120064, 0x00280303})


def load_certificate(path: str | Path) -> Any:
    """Load a PEM or DER X.509 certificate."""
    from cryptography import x509

    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def load_private_key(path: str | Path, password: bytes | None = None) -> Any:
    """Load a PEM or DER private key."""
    from cryptography.hazmat.primitives import serialization

    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        return serialization.load_pem_private_key(data, password=password)
    return serialization.load_der_private_key(data, password=password)


def _encode(ds: Dataset) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return fp.getvalue()


def _decode(raw: bytes) -> Dataset:
    from io import BytesIO

    from pydicom.filereader import read_dataset

    return read_dataset(BytesIO(raw), is_implicit_VR=False, is_little_endian=True)


def encrypt_dataset(ds: Dataset, certificate: Any) -> bytes:
    """CMS enveloped data (DER) of ``ds`` encoded Explicit VR Little Endian."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import pkcs7

    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(_encode(ds)).add_recipient(certificate)
    if hasattr(builder, "set_content_encryption_algorithm"):  # cryptography >= 45
        builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    return builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def add_encrypted_attributes(ds: Dataset, original: Dataset, settings: ReversibleSettings,
                             walk: Any = None) -> None:
    """Add (0400,0500) holding the original values of the attributes that changed."""
    from pydicom.dataset import Dataset as Item
    from pydicom.sequence import Sequence

    if not settings.recipient_certificate:
        return
    modified = Item()
    for elem in original:
        tag = int(elem.tag)
        if tag in _SKIP:
            continue
        now = ds.get(tag)
        if now is None or now.value != elem.value:
            modified.add(elem)
    if not len(modified):
        return
    wrapper = Item()
    wrapper.ModifiedAttributesSequence = Sequence([modified])
    item = Item()
    item.EncryptedContentTransferSyntaxUID = EXPLICIT_LE
    certificate = load_certificate(settings.recipient_certificate)
    item.EncryptedContent = encrypt_dataset(wrapper, certificate)
    ds.EncryptedAttributesSequence = Sequence([item])
    if walk is not None:
        walk.change("encrypt", 0x04000500, "EncryptedAttributesSequence", "",
                    f"{len(modified)} original attributes encrypted")


class NotForThisKey(ValueError):
    """The Encrypted Attributes Sequence was not encrypted for the key given (or is damaged)."""


def der_value(content: bytes) -> bytes:
    """The CMS structure at the start of an Encrypted Content value, without what follows.

    DICOM pads an odd-length OB value to even length with one zero byte; a CMS parser
    refuses that byte as trailing data. The DER header says how long the structure is, so
    exactly that many bytes are taken (a value that is not DER is returned unchanged)."""
    if len(content) < 2 or content[0] != 0x30:
        return content
    first = content[1]
    if first < 0x80:
        size, start = first, 2
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or len(content) < 2 + count:
            return content
        size, start = int.from_bytes(content[2:2 + count], "big"), 2 + count
    end = start + size
    return content[:end] if end <= len(content) else content


def reidentify(ds: Dataset, private_key: Any, certificate: Any) -> Dataset:
    """A copy of ``ds`` with the original attributes recovered from (0400,0500).

    Raises :class:`NotForThisKey` when the content was encrypted for another recipient (or
    is damaged), ``ValueError`` when the dataset has no Encrypted Attributes Sequence."""
    import copy

    from cryptography.hazmat.primitives.serialization import pkcs7

    if "EncryptedAttributesSequence" not in ds:
        raise ValueError("the dataset has no Encrypted Attributes Sequence")
    out = copy.deepcopy(ds)
    for item in ds.EncryptedAttributesSequence:
        try:
            raw = pkcs7.pkcs7_decrypt_der(der_value(bytes(item.EncryptedContent)),
                                          certificate, private_key, [])
        except ValueError as exc:
            raise NotForThisKey("not encrypted for this key (or the encrypted content is "
                                "damaged)") from exc
        try:  # a wrong key can pass the padding checks by chance and give random bytes
            wrapper = _decode(raw)
            found = "ModifiedAttributesSequence" in wrapper
        except Exception:
            found = False
        if not found:
            raise NotForThisKey("not encrypted for this key (the content did not decrypt to "
                                "a Modified Attributes Sequence; or it is damaged)")
        for modified in wrapper.ModifiedAttributesSequence:
            for elem in modified:
                out.add(elem)
    del out.EncryptedAttributesSequence
    meta = getattr(out, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in out:
        meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    return out


def is_dicom_file(path: str | Path) -> bool:
    """Whether ``path`` starts like a DICOM Part 10 file (``DICM`` after the preamble)."""
    with open(path, "rb") as fh:
        return fh.read(132)[128:132] == b"DICM"


def reidentify_file(source: str | Path, dest: str | Path, private_key: Any,
                    certificate: Any) -> str:
    """Restore one written file into ``dest`` in its own transfer syntax; ``"not-dicom"``
    (nothing written) for a file that is not DICOM Part 10, else ``"done"``. Errors as
    :func:`reidentify`."""
    from pydicom import dcmread

    if not is_dicom_file(source):
        return "not-dicom"
    ds = dcmread(source)
    restored = reidentify(ds, private_key, certificate)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    restored.save_as(dest, enforce_file_format=True)
    return "done"
