"""Run and per-instance context handed to components.

A :class:`Run` is one session's working state: the resolved profile, the project secret, the
hook facade, the store. It is rebuilt inside each worker process from a picklable
:class:`RunSpec` (plugin managers never cross process boundaries).

Decisions (UID mapping, pseudonyms, date offsets) go through the ``gantry_map_uid``,
``gantry_pseudonym`` and ``gantry_date_offset`` hooks, first result wins, and are cached per run.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from gantry.records import PatientKey, Pseudonym
from gantry.stash import Stash

if TYPE_CHECKING:
    from gantry.model import Instance
    from gantry.profiles import Profile
    from gantry.protocols import Store


class DecisionHooks(Protocol):
    """The decisions a :class:`Run` asks its hook facade for (the facade,
    :class:`gantry.plugins.GantryHooks`, offers every other hook and look-up too)."""

    def map_uid(self, *, uid: str, run: Run) -> str | None:
        """The replacement of a UID (``gantry_map_uid``)."""

    def pseudonym(self, *, patient: PatientKey, run: Run) -> Pseudonym | None:
        """The pseudonymous identity of a patient (``gantry_pseudonym``)."""

    def date_offset(self, *, patient: PatientKey, run: Run) -> int | None:
        """The date shift of a patient, in days (``gantry_date_offset``)."""


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to rebuild a :class:`Run`: names, paths and settings only."""

    profile: str
    secret: bytes = field(repr=False)
    store_url: str = "memory://"
    allow_plugins: tuple[str, ...] | None = None
    block_plugins: tuple[str, ...] = ()
    profile_overrides: tuple[tuple[str, Any], ...] = ()
    run_id: str = ""


class Run:
    """The working state of one session, shared by every component it calls."""

    def __init__(self, *, profile: Profile, secret: bytes, hooks: DecisionHooks,
                 store: Store | None = None, spec: RunSpec | None = None,
                 run_id: str | None = None) -> None:
        self.profile = profile
        self.secret = secret
        #: the session's hook facade (a :class:`gantry.plugins.GantryHooks`)
        self.hooks = hooks
        self.store = store
        self.spec = spec
        #: typed state components keep for the length of the run (:mod:`gantry.stash`)
        self.stash = Stash()
        self.run_id = run_id or (spec.run_id if spec and spec.run_id else uuid.uuid4().hex[:12])
        self.map_uid = lru_cache(maxsize=8192)(self._map_uid)
        self._pseudonyms: dict[PatientKey, Pseudonym] = {}
        self._offsets: dict[PatientKey, int] = {}

    def keyed_hash(self, value: str) -> str:
        """A keyed (HMAC-SHA256) hash of a value, for naming originals in logs without them."""
        return "h:" + hmac.new(self.secret, value.encode("utf-8", "surrogatepass"),
                               hashlib.sha256).hexdigest()[:24]

    def settings(self, section: str) -> dict[str, Any]:
        """The profile's ``plugins: {section: {...}}`` settings (validated), or ``{}``."""
        return dict(self.profile.plugins.get(section, {}) or {})

    def _map_uid(self, uid: str) -> str:
        result = self.hooks.map_uid(uid=uid, run=self)
        if result is None:
            raise RuntimeError("no plugin mapped a UID (the built-in keyed default is missing)")
        return result

    def pseudonym(self, patient: PatientKey) -> Pseudonym:
        """The pseudonymous identity of a patient (cached)."""
        found = self._pseudonyms.get(patient)
        if found is None:
            found = self.hooks.pseudonym(patient=patient, run=self)
            if found is None:
                raise RuntimeError("no plugin gave a pseudonym (the built-in default is missing)")
            self._pseudonyms[patient] = found
        return found

    def date_offset(self, patient: PatientKey) -> int:
        """The date shift, in days, of a patient (cached)."""
        found = self._offsets.get(patient)
        if found is None:
            found = self.hooks.date_offset(patient=patient, run=self)
            if found is None:
                raise RuntimeError("no plugin gave a date offset (the built-in default is missing)")
            found = self._offsets[patient] = int(found)
        return found


@dataclass
class InstanceContext:
    """What a redactor or auditor knows about the instance in hand.

    ``identifiers`` is the set of identifying values read from the *original* header (and its
    patient) before any redactor ran — used by cleaners, OCR matching and the export gate.
    ``notes`` lets components of one stack pass facts along (e.g. ``pixels_modified``).
    """

    instance: Instance
    run: Run
    patient: PatientKey
    identifiers: Any = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def pixels_modified(self) -> bool:
        """Whether a redactor changed the pixel data of this instance."""
        return bool(self.notes.get("pixels_modified"))
