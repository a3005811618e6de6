"""Storage SCP building blocks shared by the listener and the C-MOVE destination.

The accepted presentation contexts are every storage SOP class pynetdicom knows, each with
every transfer syntax Gantry reads as it is (:data:`gantry_pacs.net.READABLE_SYNTAXES`), plus
Verification (C-ECHO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry_pacs.net import READABLE_SYNTAXES, VERIFICATION

if TYPE_CHECKING:
    from pynetdicom import AE

    from gantry_pacs.settings import PacsSettings


def storage_contexts(syntaxes: tuple[str, ...] = READABLE_SYNTAXES) -> list[Any]:
    """Presentation contexts for every storage SOP class with ``syntaxes``."""
    from pynetdicom import build_context
    from pynetdicom.presentation import AllStoragePresentationContexts

    return [build_context(cx.abstract_syntax, list(syntaxes))
            for cx in AllStoragePresentationContexts]


def make_storage_ae(settings: PacsSettings, ae_title: str) -> AE:
    """An AE accepting C-STORE (all storage classes) and C-ECHO as ``ae_title``."""
    from pynetdicom import build_context

    from gantry_pacs.net import make_ae

    ae = make_ae(settings, ae_title)
    ae.supported_contexts = [*storage_contexts(), build_context(VERIFICATION)]
    ae.maximum_associations = settings.max_associations
    return ae


def peer_of(event: Any) -> str:
    """``AET@host:port`` of the peer of an event's association."""
    requestor = event.assoc.requestor
    aet = str(requestor.ae_title).strip() if requestor.ae_title else "?"
    return f"{aet}@{requestor.address}:{requestor.port}"
