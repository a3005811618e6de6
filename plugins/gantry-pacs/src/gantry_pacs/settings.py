"""Settings of gantry-pacs: the profile's ``plugins: {pacs: {...}}`` and ``GANTRY_PACS_*``.

Every field may also come from the environment, ``GANTRY_PACS_<FIELD>`` (upper case; lists
comma-separated; the TLS fields ``GANTRY_PACS_TLS_<FIELD>``), which overrides the profile: an
operator can point a profile at other certificates or another calling AE title without
editing it. Both are validated by the same model; an invalid value is one error naming the
field (and the variable).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if TYPE_CHECKING:
    from gantry.api import Run

#: The section name under the profile's ``plugins:``.
SECTION = "pacs"
ENV_PREFIX = "GANTRY_PACS_"
_AE_CHARS = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # default character repertoire, no '\'


def check_ae_title(value: str, what: str = "AE title") -> str:
    """``value`` stripped, when it is a valid AE title (1-16 characters, no backslash or
    control characters, not only spaces); else :class:`ValueError` saying why."""
    text = str(value).strip()
    if not text or not _AE_CHARS.match(text):
        raise ValueError(f"{what} {value!r} is not a valid AE title (1-16 printable "
                         "characters, no backslash)")
    return text


class TlsSettings(BaseModel):
    """DICOM TLS (PS3.15 Annex B): our certificate and key (PEM), and the certificates we
    trust. ``require_peer_certificate``: as a server (the listener, the C-MOVE destination),
    refuse clients that present no certificate signed by ``ca_certificates``;
    ``check_hostname``: as a client, also match the peer's certificate to its host name."""

    model_config = ConfigDict(extra="forbid")

    certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    require_peer_certificate: bool = True
    check_hostname: bool = False


class PacsSettings(BaseModel):
    """Everything gantry-pacs reads. Times are seconds. See ``docs/pacs.md``."""

    model_config = ConfigDict(extra="forbid")

    #: our AE title when we call a peer (the PACS must know it for C-FIND/C-GET/C-MOVE)
    calling_aet: str = "GANTRY"
    connect_timeout: float = Field(default=10.0, gt=0)
    acse_timeout: float = Field(default=30.0, gt=0)
    dimse_timeout: float = Field(default=120.0, gt=0)
    network_timeout: float = Field(default=120.0, gt=0)
    #: attempts after the first, for a connection or association that fails or drops
    retries: int = Field(default=2, ge=0, le=20)
    retry_wait: float = Field(default=1.0, ge=0)
    #: the largest PDU we receive (0: no limit)
    max_pdu: int = Field(default=262144, ge=0)
    #: where retrieved and received originals are kept (default ``$GANTRY_HOME/pacs``)
    spool: str | None = None
    #: ``fsync`` each received file before answering Success (the listener, C-MOVE)
    fsync: bool = True
    #: our storage SCP for ``?retrieve=move``: the destination AE title the PACS knows, the
    #: port it sends to, and the address we listen on
    move_aet: str = "GANTRY"
    move_port: int = Field(default=11113, ge=1, le=65535)
    bind_host: str = "0.0.0.0"
    tls: TlsSettings = Field(default_factory=TlsSettings)
    #: the listener's allow-lists: calling AE titles and peer addresses (empty: anyone)
    allowed_aets: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    max_associations: int = Field(default=10, ge=1, le=200)
    #: the listener's unit of work: each ``instance`` as it arrives (in small batches), or a
    #: whole ``study`` once no instance of it arrived for ``study_stable_seconds``
    group: Literal["instance", "study"] = "instance"
    study_stable_seconds: float = Field(default=10.0, gt=0)
    batch_size: int = Field(default=500, ge=1)
    #: seconds an in-flight association may take to finish at shutdown before it is aborted
    shutdown_grace: float = Field(default=10.0, ge=0)
    #: seconds between new attempts at batches whose export failed (the listener)
    retry_failed_every: float = Field(default=60.0, gt=0)
    #: export: count C-STORE warnings (0xB000, 0xB006, 0xB007) as stored
    accept_warnings: bool = True
    #: export: Storage Commitment (PS3.4 J): ``if-supported`` asks, when ``commitment_port``
    #: is set, every peer that accepts the Push Model and counts an instance exported only
    #: once committed; ``required`` always asks, and fails every instance to a peer that
    #: does not support it; ``off`` never asks
    commitment: Literal["required", "if-supported", "off"] = "if-supported"
    #: seconds to wait for the peer's N-EVENT-REPORT after each N-ACTION
    commitment_timeout: float = Field(default=30.0, gt=0)
    #: the port our AE (``calling_aet``) listens on while it waits for a report the peer
    #: sends on a new association (Orthanc does: it must know this port); unset: reports
    #: are taken only on the association that asked
    commitment_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("calling_aet", "move_aet")
    @classmethod
    def _ae(cls, value: str) -> str:
        return check_ae_title(value)

    @field_validator("allowed_aets")
    @classmethod
    def _aes(cls, values: list[str]) -> list[str]:
        return [check_ae_title(v) for v in values]


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given by ``GANTRY_PACS_*`` variables, as strings (lists split)."""
    out: dict[str, Any] = {}
    tls: dict[str, Any] = {}
    list_fields = {"allowed_aets", "allowed_hosts"}
    for name in PacsSettings.model_fields:
        if name == "tls":
            continue
        value = environ.get(ENV_PREFIX + name.upper())
        if value is not None:
            out[name] = [v.strip() for v in value.split(",") if v.strip()] \
                if name in list_fields else value
    for name in TlsSettings.model_fields:
        value = environ.get(f"{ENV_PREFIX}TLS_{name.upper()}")
        if value is not None:
            tls[name] = value
    if tls:
        out["tls"] = tls
    return out


def load_settings(run: Run | None = None,
                  environ: Mapping[str, str] | None = None) -> PacsSettings:
    """The validated settings: the run's profile section, overridden by ``GANTRY_PACS_*``;
    an invalid value is a :class:`~gantry.errors.ProfileError` naming the field."""
    from gantry.api import ProfileError

    raw: dict[str, Any] = dict(run.settings(SECTION)) if run is not None else {}
    env = _env_values(os.environ if environ is None else environ)
    from_env = set(env) | {f"tls.{k}" for k in env.get("tls", {})}
    if "tls" in env:
        tls = dict(raw.get("tls") or {})
        if isinstance(tls, BaseModel):
            tls = tls.model_dump()
        tls.update(env.pop("tls"))
        raw["tls"] = tls
    raw.update(env)
    try:
        return PacsSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        source = f" (from {ENV_PREFIX}{field.replace('.', '_').upper()})" \
            if field in from_env or field.split(".")[0] in from_env else ""
        raise ProfileError(f"{err['msg']}{source}", field=f"plugins.{SECTION}.{field}") from None


def spool_root(settings: PacsSettings) -> str:
    """The folder retrieved and received originals go to (made private on first use)."""
    if settings.spool:
        root = os.path.abspath(os.path.expanduser(settings.spool))
    else:
        from gantry.api import gantry_home

        root = str(gantry_home() / "pacs")
    os.makedirs(root, mode=0o700, exist_ok=True)
    return root
