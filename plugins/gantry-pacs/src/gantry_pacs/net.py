"""Associations with peers: application entities from the settings, TLS, clear failures.

Every failure to reach or agree with a peer is a :class:`PeerError` whose message is one line
naming the peer and what failed (refused connection, rejected association and why, abort,
timeout). pynetdicom's own logging is silenced unless ``GANTRY_DEBUG`` is set: the error
says it once.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gantry.api import GantryError

if TYPE_CHECKING:
    from pynetdicom import AE
    from pynetdicom.association import Association

    from gantry_pacs.settings import PacsSettings
    from gantry_pacs.url import Peer

T = TypeVar("T")

#: Transfer syntaxes Gantry reads and writes as they are (pixel data copied, never decoded
#: unless a redactor needs the pixels): uncompressed first, then the common compressed ones.
UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2")
READABLE_SYNTAXES = (
    *UNCOMPRESSED,
    "1.2.840.10008.1.2.1.99",  # deflated explicit VR little endian
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",
)
VERIFICATION = "1.2.840.10008.1.1"

#: A-ASSOCIATE-RJ diagnostics (PS3.8 9.3.4), by (source, reason).
_REJECT_REASONS = {
    (1, 1): "no reason given", (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognised", (1, 7): "called AE title not recognised",
    (2, 1): "no reason given (ACSE)", (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion", (3, 2): "local limit exceeded",
}


class PeerError(GantryError):
    """A peer could not be reached, refused us, or failed an operation; names the peer."""


def quiet_pynetdicom() -> None:
    """Keep pynetdicom's log lines out of the user's terminal (``GANTRY_DEBUG=1`` shows them)."""
    logger = logging.getLogger("pynetdicom")
    if not os.environ.get("GANTRY_DEBUG"):
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False


def make_ae(settings: PacsSettings, ae_title: str | None = None) -> AE:
    """An application entity with our AE title, timeouts and maximum PDU."""
    from pynetdicom import AE

    quiet_pynetdicom()
    ae = AE(ae_title=ae_title or settings.calling_aet)
    ae.connection_timeout = settings.connect_timeout
    ae.acse_timeout = settings.acse_timeout
    ae.dimse_timeout = settings.dimse_timeout
    ae.network_timeout = settings.network_timeout
    ae.maximum_pdu_size = settings.max_pdu
    return ae


def _need_file(path: str | None, what: str) -> str:
    if not path:
        raise PeerError(f"DICOM TLS needs plugins.pacs.tls.{what} (or GANTRY_PACS_TLS_"
                        f"{what.upper()})")
    if not os.path.isfile(path):
        raise PeerError(f"plugins.pacs.tls.{what}: no such file: {path}")
    return path


def client_tls(settings: PacsSettings) -> ssl.SSLContext:
    """The TLS context we connect with: the peer's certificate checked against the trusted
    certificates; ours presented when configured (most DICOM TLS servers require it)."""
    tls = settings.tls
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=_need_file(tls.ca_certificates,
                                                           "ca_certificates"))
    context.check_hostname = tls.check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if tls.certificate or tls.private_key:
        try:
            context.load_cert_chain(_need_file(tls.certificate, "certificate"),
                                    _need_file(tls.private_key, "private_key"))
        except ssl.SSLError as exc:
            raise PeerError(f"plugins.pacs.tls: cannot load the certificate and key: "
                            f"{exc}") from None
    return context


def server_tls(settings: PacsSettings) -> ssl.SSLContext:
    """The TLS context we accept connections with: our certificate and key; clients'
    certificates required (and checked) unless ``require_peer_certificate`` is off."""
    tls = settings.tls
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(_need_file(tls.certificate, "certificate"),
                                _need_file(tls.private_key, "private_key"))
    except ssl.SSLError as exc:
        raise PeerError(f"plugins.pacs.tls: cannot load the certificate and key: {exc}") from None
    if tls.require_peer_certificate:
        context.load_verify_locations(_need_file(tls.ca_certificates, "ca_certificates"))
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def associate(ae: AE, peer: Peer, settings: PacsSettings, *, ext_neg: Sequence[Any] = (),
              handlers: Sequence[Any] = ()) -> Association:
    """An established association with ``peer`` (the contexts requested on ``ae``), or a
    :class:`PeerError` saying why not (connection refused, timed out, rejected and why,
    aborted, TLS handshake failed)."""
    from pynetdicom import evt

    seen: dict[str, Any] = {}

    def on_open(event: Any) -> None:
        seen["connected"] = True

    def on_acse(event: Any) -> None:
        primitive = getattr(event, "primitive", None)
        if primitive is not None and type(primitive).__name__ == "A_ASSOCIATE":
            seen["rj"] = primitive

    tls_args = None
    if peer.tls:
        tls_args = (client_tls(settings), peer.host if settings.tls.check_hostname else None)
    started = time.monotonic()
    try:
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet, ext_neg=list(ext_neg) or
                             None, evt_handlers=[(evt.EVT_ACSE_RECV, on_acse),
                                           (evt.EVT_CONN_OPEN, on_open), *handlers],
                             tls_args=tls_args)
    except (OSError, ssl.SSLError) as exc:
        raise PeerError(f"{peer}: cannot connect: {exc}") from None
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        rj = seen.get("rj")
        why = ""
        if rj is not None:
            why = _REJECT_REASONS.get((rj.result_source, rj.diagnostic), "")
            if not why:
                why = f"source {rj.result_source}, reason {rj.diagnostic}"
            if rj.diagnostic == 3 and rj.result_source == 1:
                why += f" (is {ae.ae_title} known to the peer?)"
        raise PeerError(f"{peer}: association rejected: {why or 'no reason given'}")
    if not seen.get("connected"):
        if time.monotonic() - started < settings.connect_timeout * 0.9:
            raise PeerError(f"{peer}: cannot connect (connection refused at {peer.host}:"
                            f"{peer.port}: is the peer running, on this port?)")
        raise PeerError(f"{peer}: cannot connect (nothing accepted a connection at "
                        f"{peer.host}:{peer.port} within {settings.connect_timeout:g} s)")
    if assoc.is_aborted:
        raise PeerError(f"{peer}: association aborted by the peer while negotiating"
                        + (" (a TLS handshake that failed?)" if peer.tls else ""))
    raise PeerError(f"{peer}: cannot connect (no DICOM peer answered at {peer.host}:"
                    f"{peer.port} within {settings.connect_timeout:g} s, or it refused the "
                    "connection)")


def with_retries(settings: PacsSettings, action: Callable[[], T],
                 retry_on: tuple[type[BaseException], ...] = (PeerError,)) -> T:
    """``action()``, tried again up to ``settings.retries`` times (waiting ``retry_wait``,
    doubling) when it raises one of ``retry_on``; the last error is raised."""
    wait = settings.retry_wait
    for attempt in range(settings.retries + 1):
        try:
            return action()
        except retry_on:
            if attempt >= settings.retries:
                raise
            time.sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")


def status_of(status: Any) -> int | None:
    """The Status of a response dataset; ``None`` for pynetdicom's empty dataset (no
    response: the peer aborted, the connection dropped or the DIMSE timeout passed)."""
    value = getattr(status, "Status", None) if status is not None else None
    return int(value) if value is not None else None


def echo(ae: AE, peer: Peer, settings: PacsSettings) -> None:
    """C-ECHO ``peer``; :class:`PeerError` when it does not answer Success."""
    ae.requested_contexts = []
    ae.add_requested_context(VERIFICATION)
    assoc = associate(ae, peer, settings)
    try:
        code = status_of(assoc.send_c_echo())
    finally:
        release(assoc)
    if code is None:
        raise PeerError(f"{peer}: C-ECHO: no answer (aborted or timed out)")
    if code != 0:
        raise PeerError(f"{peer}: C-ECHO failed with status 0x{code:04X}")


def release(assoc: Association) -> None:
    """Release an association (abort it when it is no longer established)."""
    if assoc.is_established:
        assoc.release()
    else:
        assoc.abort()

