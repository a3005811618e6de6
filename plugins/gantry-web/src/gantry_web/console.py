"""The review console's work over one session: listings, previews, decisions, zone rules.

Everything shown is what the profile will write (the redaction stack run on the stored header,
or on the file for the viewer); original values appear only through :meth:`Console.reveal`,
which is audited. The instances of a series are paged by key (``iter_instances(after=...)``:
a page of a 100,000-instance series reads that page from the store, through an index in
gantry-sqlite); the shorter listings (patients, studies, series, a search result) keep the
ordered keys they page over in memory (rebuilt when the store's counts change).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gantry_web.handles import Handles

if TYPE_CHECKING:
    from gantry import Session
    from gantry.api import Decision, Instance, Preview

PAGE_SIZE = 50
ZONE_EVENT = "zone-rule-accepted"


class NotFound(LookupError):
    """A handle this console never showed, or an instance that is gone."""


@dataclass
class Page:
    """One page of a listing (``first``/``last``: the handles of its first and last rows when
    it is paged by key — the next page starts after ``last``, the previous one before
    ``first``)."""

    rows: list[dict[str, Any]]
    page: int
    pages: int
    total: int
    keyset: bool = False
    first: str = ""
    last: str = ""


@dataclass
class Grant:
    """Permission, given by an audited request, to see one instance's originals for a while."""

    sop_instance_uid: str
    expires: float


@dataclass
class SearchResult:
    """The instances a query matched (kept server-side: the query never enters a URL)."""

    expression: str
    uids: list[str]
    seconds: float
    created: float = field(default_factory=time.time)


class Console:
    """Listings, previews and decisions over a :class:`gantry.Session`."""

    def __init__(self, session: Session, *, read_only: bool = False, user: str = "",
                 default_dest: str | None = None) -> None:
        self.session = session
        self.read_only = read_only
        self.user = user
        self.default_dest = default_dest
        self.handles = Handles()
        self._lock = threading.RLock()
        self._lists: dict[tuple[str, str], tuple[Any, list[str]]] = {}
        self._headers: OrderedDict[str, Any] = OrderedDict()
        self._previews: OrderedDict[str, Preview] = OrderedDict()
        self._searches: OrderedDict[str, SearchResult] = OrderedDict()
        self._grants: dict[str, Grant] = {}
        self._decisions: tuple[float, dict[str, Decision]] | None = None
        self.base_profile = session.base_profile
        self.export_job: Any = None
        #: why an instance's source could not be read for its preview (by original UID)
        self.source_errors: dict[str, str] = {}

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        """The session's store."""
        return self.session.store

    def _version(self) -> Any:
        return self.store.counts()

    def _keys(self, kind: str, parent: str, build: Callable[[], Iterable[str]]) -> list[str]:
        """The ordered keys of a listing, cached until the store's counts change."""
        version = self._version()
        with self._lock:
            found = self._lists.get((kind, parent))
            if found is not None and found[0] == version:
                return found[1]
        keys = list(build())
        with self._lock:
            self._lists[(kind, parent)] = (version, keys)
        return keys

    @staticmethod
    def _slice(keys: list[str], page: int) -> tuple[list[str], int, int]:
        pages = max(1, math.ceil(len(keys) / PAGE_SIZE))
        page = min(max(page, 1), pages)
        return keys[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], page, pages

    def resolve(self, kind: str, handle: str) -> str:
        """The original key behind a handle, or :class:`NotFound`."""
        value = self.handles.value(kind, handle)
        if value is None:
            raise NotFound(f"no {kind} {handle} in this console (the link is from an older "
                           "session or was mistyped)")
        return value

    def instance(self, handle: str) -> Instance:
        """The bound instance behind a handle."""
        uid = self.resolve("instance", handle)
        inst = self.store.get_instance(uid)
        if inst is None:
            raise NotFound("this instance is no longer in the store")
        return inst.bind(self.session.hooks.ingestor_for(inst.source).open)

    def redacted_header(self, uid: str) -> Any:
        """The stored header of an instance as the profile will write it (cached)."""
        with self._lock:
            if uid in self._headers:
                self._headers.move_to_end(uid)
                return self._headers[uid]
        from gantry.api import preview_instance

        inst = self.store.get_instance(uid)
        header = self.store.get_header(uid) if inst is not None else None
        redacted = None
        if header is not None:
            redacted = preview_instance(inst, self.session.run, header=header,
                                        pixels=False).redacted
        with self._lock:
            self._headers[uid] = redacted
            while len(self._headers) > 4096:
                self._headers.popitem(last=False)
        return redacted

    def decisions(self) -> dict[str, Decision]:
        """Decisions in force (cached for a few seconds; dropped when this console decides)."""
        from gantry.api import decisions_in_force

        with self._lock:
            if self._decisions is not None and time.monotonic() - self._decisions[0] < 5:
                return self._decisions[1]
        found = decisions_in_force(self.store)
        with self._lock:
            self._decisions = (time.monotonic(), found)
        return found

    def withheld_by_series(self) -> dict[str, int]:
        """How many instances of each series are withheld (one batched read of the withheld
        instances, cached with the decisions)."""
        decisions = self.decisions()
        with self._lock:
            cached = self.__dict__.get("_withheld_series")
            if cached is not None and cached[0] is decisions:
                return cached[1]
        uids = [uid for uid, d in decisions.items() if d.action == "withhold"]
        counts: dict[str, int] = {}
        for inst in self.store.iter_instances(sop_instance_uids=uids):
            counts[inst.series_instance_uid] = counts.get(inst.series_instance_uid, 0) + 1
        with self._lock:
            self.__dict__["_withheld_series"] = (decisions, counts)
        return counts

    # -- listings -----------------------------------------------------------------------------
    def patients(self, page: int = 1) -> Page:
        """Patients with their study counts, shown by pseudonym."""
        counts: dict[str, int] = {}

        def build() -> Iterator[str]:
            for p in self.store.iter_patients():
                counts[p.patient_id] = p.study_count
                yield p.patient_id

        keys = self._keys("patients", "", build)
        part, page, pages = self._slice(keys, page)
        rows = []
        for pid in part:
            studies = list(self.store.iter_studies(pid))
            first = self._first_instance_of_study(studies[0].study_instance_uid) \
                if studies else None
            ds = self.redacted_header(first) if first else None
            rows.append({"handle": self.handles.of("patient", pid),
                         "patient_id": _text(ds, "PatientID"),
                         "patient_name": _text(ds, "PatientName"),
                         "studies": len(studies)})
        return Page(rows, page, pages, len(keys))

    def _first_instance_of_study(self, study_uid: str) -> str | None:
        for series in self.store.iter_series(study_uid):
            for inst in self.store.iter_instances(series_instance_uid=series.series_instance_uid):
                return inst.sop_instance_uid
        return None

    def _first_instance_of_series(self, series_uid: str) -> str | None:
        for inst in self.store.iter_instances(series_instance_uid=series_uid):
            return inst.sop_instance_uid
        return None

    def studies(self, patient_handle: str, page: int = 1) -> tuple[dict[str, Any], Page]:
        """Studies of one patient, with series counts and dates as they will be written."""
        pid = self.resolve("patient", patient_handle)
        keys = self._keys("studies", pid, lambda: (s.study_instance_uid
                                                   for s in self.store.iter_studies(pid)))
        part, page, pages = self._slice(keys, page)
        rows, head = [], None
        for study_uid in part:
            first = self._first_instance_of_study(study_uid)
            ds = self.redacted_header(first) if first else None
            head = head or ds
            series = list(self.store.iter_series(study_uid))
            rows.append({"handle": self.handles.of("study", study_uid),
                         "uid": _text(ds, "StudyInstanceUID"),
                         "date": _text(ds, "StudyDate"),
                         "description": _text(ds, "StudyDescription"),
                         "modalities": ", ".join(sorted({s.modality for s in series
                                                         if s.modality})),
                         "series": len(series),
                         "instances": sum(s.instance_count for s in series)})
        patient = {"handle": patient_handle, "patient_id": _text(head, "PatientID"),
                   "patient_name": _text(head, "PatientName")}
        return patient, Page(rows, page, pages, len(keys))

    def series(self, study_handle: str, page: int = 1) -> tuple[dict[str, Any], Page]:
        """Series of one study: modality, date, description, instance counts, withheld."""
        study_uid = self.resolve("study", study_handle)
        found: dict[str, Any] = {}

        def build() -> Iterator[str]:
            for s in self.store.iter_series(study_uid):
                found[s.series_instance_uid] = s
                yield s.series_instance_uid

        keys = self._keys("series", study_uid, build)
        if not found:
            found = {s.series_instance_uid: s for s in self.store.iter_series(study_uid)}
        part, page, pages = self._slice(keys, page)
        withheld_by_series = self.withheld_by_series()
        rows, head = [], None
        for series_uid in part:
            first = self._first_instance_of_series(series_uid)
            ds = self.redacted_header(first) if first else None
            head = head or ds
            record = found.get(series_uid)
            withheld = withheld_by_series.get(series_uid, 0)
            rows.append({"handle": self.handles.of("series", series_uid),
                         "uid": _text(ds, "SeriesInstanceUID"),
                         "number": _text(ds, "SeriesNumber"),
                         "modality": record.modality if record else _text(ds, "Modality"),
                         "date": _text(ds, "SeriesDate") or _text(ds, "StudyDate"),
                         "description": _text(ds, "SeriesDescription"),
                         "instances": record.instance_count if record else 0,
                         "withheld": withheld})
        study = {"handle": study_handle, "uid": _text(head, "StudyInstanceUID"),
                 "date": _text(head, "StudyDate"), "description": _text(head,
                                                                        "StudyDescription"),
                 "patient": self._patient_of_study(study_uid)}
        return study, Page(rows, page, pages, len(keys))

    def _patient_of_study(self, study_uid: str) -> str:
        first = self._first_instance_of_study(study_uid)
        inst = self.store.get_instance(first) if first else None
        return self.handles.of("patient", inst.patient_id) if inst else ""

    def _series_uids(self, series_uid: str) -> list[str]:
        return [i.sop_instance_uid for i in self.store.iter_instances(
            series_instance_uid=series_uid)]

    def instances(self, series_handle: str, page: int = 1, *, after: str | None = None,
                  before: str | None = None, last: bool = False
                  ) -> tuple[dict[str, Any], Page]:
        """Instances of one series, paged by key: the first page, the page ``after`` (or
        ``before``) an instance handle the previous page showed, or the ``last`` page. Each
        reads one page of instances from the store (``iter_instances(after=...)``), never the
        whole series; ``page`` is the number shown."""
        from itertools import islice

        series_uid = self.resolve("series", series_handle)
        first_uid = self._first_instance_of_series(series_uid)
        inst = self.store.get_instance(first_uid) if first_uid else None
        total = 0
        if inst is not None:
            total = next((s.instance_count for s in self.store.iter_series(
                inst.study_instance_uid) if s.series_instance_uid == series_uid), 0)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        key = {"series_instance_uid": series_uid}
        if last:
            count = total - (pages - 1) * PAGE_SIZE or PAGE_SIZE
            found = list(islice(self.store.iter_instances(**key, reverse=True), count))[::-1]
            page = pages
        elif before:
            found = list(islice(self.store.iter_instances(
                **key, after=self.resolve("instance", before), reverse=True), PAGE_SIZE))[::-1]
            page = max(1, page)
            if len(found) < PAGE_SIZE:  # reached the start: the first page as it is now
                found, page = list(islice(self.store.iter_instances(**key), PAGE_SIZE)), 1
        else:
            start = self.resolve("instance", after) if after else None
            found = list(islice(self.store.iter_instances(**key, after=start), PAGE_SIZE))
            page = max(1, page) if after else 1
        rows = self.instance_rows([i.sop_instance_uid for i in found], found)
        pages = max(pages, page)
        ds = self.redacted_header(first_uid) if first_uid else None
        series = {"handle": series_handle, "uid": _text(ds, "SeriesInstanceUID"),
                  "modality": _text(ds, "Modality"),
                  "description": _text(ds, "SeriesDescription"),
                  "study": self.handles.of("study", inst.study_instance_uid) if inst else ""}
        listing = Page(rows, page, pages, total, keyset=True,
                       first=rows[0]["handle"] if rows else "",
                       last=rows[-1]["handle"] if rows else "")
        return series, listing

    def instance_rows(self, uids: list[str], instances: Iterable[Instance] | None = None
                      ) -> list[dict[str, Any]]:
        """Rows of a page of instances: number, new UID, size, frames, status, decision
        (``instances``: those of ``uids`` already read, else read from the store)."""
        decisions = self.decisions()
        findings: dict[str, int] = {}
        rows = []
        if instances is None:
            instances = self.store.iter_instances(sop_instance_uids=uids)
        for inst in instances:
            uid = inst.sop_instance_uid
            for _ in self.store.iter_findings(uid):
                findings[uid] = findings.get(uid, 0) + 1
            decision = decisions.get(uid)
            rows.append({"handle": self.handles.of("instance", uid),
                         "number": str(inst.attrs.get("InstanceNumber", "") or ""),
                         "uid": self.new_uid(uid),
                         "modality": inst.modality,
                         "size": f"{inst.attrs.get('Rows', '?')}x{inst.attrs.get('Columns', '?')}",
                         "frames": str(inst.attrs.get("NumberOfFrames", 1) or 1),
                         "status": self.store.get_status(uid) or "ingested",
                         "decision": decision.action if decision else "",
                         "findings": findings.get(uid, 0)})
        return rows

    def new_uid(self, uid: str) -> str:
        """The SOP Instance UID the profile writes for ``uid``, without redacting its header
        (a listing row): the keyed mapping when the profile replaces it (``U``), else a note
        (the instance's page shows the value)."""
        from gantry.api import build_rules

        profile = self.session.profile
        with self._lock:
            cached = self.__dict__.get("_uid_action")
        if cached is None or cached[0] is not profile:
            cached = (profile, build_rules(profile).exact.get(0x00080018, "U"))
            with self._lock:
                self.__dict__["_uid_action"] = cached
        if cached[1] == "U":
            return self.session.run.map_uid(uid)
        return f"(written as the profile says: {cached[1]})"

    # -- search -------------------------------------------------------------------------------
    def search(self, expression: str) -> str:
        """Run a query (raising :class:`gantry.api.QueryError`); return the result's id."""
        from gantry.api import parse_query

        parse_query(expression)  # errors before any instance is read
        started = time.perf_counter()
        uids = [inst.sop_instance_uid for inst in self.session.query(expression)]
        result = SearchResult(expression, uids, time.perf_counter() - started)
        rid = secrets.token_urlsafe(9)
        with self._lock:
            self._searches[rid] = result
            while len(self._searches) > 20:
                self._searches.popitem(last=False)
        return rid

    def search_result(self, rid: str) -> SearchResult:
        """A kept search result, or :class:`NotFound`."""
        with self._lock:
            found = self._searches.get(rid)
        if found is None:
            raise NotFound("this search result has expired: search again")
        return found

    def search_page(self, rid: str, page: int = 1) -> tuple[SearchResult, Page]:
        """One page of a kept search result."""
        result = self.search_result(rid)
        part, page, pages = self._slice(result.uids, page)
        return result, Page(self.instance_rows(part), page, pages, len(result.uids))

    # -- one instance -------------------------------------------------------------------------
    def preview(self, handle: str) -> Preview:
        """What the export would make of an instance, read from its file (a few cached)."""
        from gantry.api import preview_instance

        uid = self.resolve("instance", handle)
        with self._lock:
            if uid in self._previews:
                self._previews.move_to_end(uid)
                return self._previews[uid]
        inst = self.instance(handle)
        try:
            found = preview_instance(inst, self.session.run, pixels=True)
            self.source_errors.pop(uid, None)
        except Exception as exc:  # the source is gone or unreadable: the stored header
            self.source_errors[uid] = f"{type(exc).__name__}: {exc}"
            found = preview_instance(inst, self.session.run, pixels=False,
                                     header=self.store.get_header(uid))
        finally:
            inst.unload()
        with self._lock:
            self._previews[uid] = found
            while len(self._previews) > 4:
                self._previews.popitem(last=False)
        return found

    def findings(self, handle: str) -> list[tuple[str, Any]]:
        """``(stage, finding)`` of an instance, as the store holds them."""
        uid = self.resolve("instance", handle)
        return [(stage, f) for _, stage, f in self.store.iter_findings(uid)]

    def history(self, handle: str) -> list[Decision]:
        """Every decision taken about an instance, oldest first."""
        return list(self.store.iter_decisions(self.resolve("instance", handle)))

    def stored_pixels(self, handle: str) -> tuple[Any, Any] | None:
        """Redacted pixels the store keeps for the instance (``gantry redact``), or ``None``."""
        return self.store.get_pixels(self.resolve("instance", handle))

    def reveal(self, handle: str) -> str:
        """Allow this instance's original values and pixels to be shown for ten minutes;
        audited. Returns the grant (a random token, the only thing a URL carries)."""
        uid = self.resolve("instance", handle)
        grant = secrets.token_urlsafe(12)
        now = time.time()
        with self._lock:
            self._grants = {k: g for k, g in self._grants.items() if g.expires > now}
            self._grants[grant] = Grant(uid, now + 600)
        self._audit("originals-viewed", uid, who=self.user)
        return grant

    def granted(self, handle: str, grant: str | None) -> bool:
        """Whether ``grant`` lets this instance's originals be shown now."""
        if not grant:
            return False
        uid = self.resolve("instance", handle)
        with self._lock:
            found = self._grants.get(grant)
        return found is not None and found.sop_instance_uid == uid and found.expires > time.time()

    def _audit(self, kind: str, uid: str, **detail: Any) -> None:
        from gantry.api import AuditEvent

        self.store.log_event(AuditEvent(kind=kind, subject=self.session.run.map_uid(uid),
                                        detail=detail, run_id=self.session.run.run_id,
                                        time=time.time()))
        self.store.checkpoint()

    # -- decisions ----------------------------------------------------------------------------
    def decide(self, action: str, reason: str, *, instance: str | None = None,
               series: str | None = None, search: str | None = None) -> int:
        """Approve or withhold an instance, a series or a search result; return how many."""
        if self.read_only:
            raise PermissionError("this console is read-only")
        if action not in ("approve", "withhold"):
            raise ValueError(f"unknown decision {action!r}")
        reason = " ".join(reason.split())
        if action == "withhold" and not reason:
            raise ValueError("a withhold needs a reason")
        if instance:
            uids, scope = [self.resolve("instance", instance)], "instance"
        elif series:
            uids, scope = self._series_uids(self.resolve("series", series)), "series"
        elif search:
            uids, scope = self.search_result(search).uids, "query"
        else:
            raise ValueError("nothing to decide about")
        count = self.session.decide(action, uids, reason=reason, who=self.user, scope=scope)
        with self._lock:
            self._decisions = None
        return count

    # -- zone rules ---------------------------------------------------------------------------
    def zone_rules(self) -> list[dict[str, Any]]:
        """Zone rules reviewers accepted, from the store's audit log (oldest first)."""
        import datetime as dt

        found = []
        for event in self.store.iter_events(kind=ZONE_EVENT):
            entry = dict(event.detail)
            at = float(entry.get("time") or event.time or 0)
            entry["when"] = dt.datetime.fromtimestamp(at, dt.UTC).strftime(
                "%Y-%m-%d %H:%M:%S UTC") if at else ""
            found.append(entry)
        return found

    def accept_zone(self, handle: str, index: int, padding: int = 4) -> dict[str, Any]:
        """Turn one OCR finding's box into a zone rule for the instance's device
        (Manufacturer, model, Rows x Columns) — the ``gantry ocr discover`` proposal for one
        sighting. Recorded in the store's audit log with who and when; every session over
        the store runs it from then on (:func:`store_zone_rules`, the
        ``gantry_store_profile`` hook) — this console's previews and exports at once."""
        if self.read_only:
            raise PermissionError("this console is read-only")
        found = self.findings(handle)
        if not 0 <= index < len(found) or found[index][1].box is None:
            raise ValueError("that finding has no box to turn into a zone rule")
        finding = found[index][1]
        inst = self.instance(handle)
        header = self.store.get_header(inst.sop_instance_uid)
        rows, cols = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
        _, x, y, w, h = finding.box
        x0, y0 = max(0, x - padding), max(0, y - padding)
        x1, y1 = min(cols or x + w + padding, x + w + padding), min(rows or y + h + padding,
                                                                    y + h + padding)
        manufacturer = str(header.get("Manufacturer", "") or "").strip()
        model = str(header.get("ManufacturerModelName", "") or "").strip()
        match: dict[str, str] = {"size": f"{rows}x{cols}"}
        if manufacturer:
            match["Manufacturer"] = _glob_exact(manufacturer)
        if model:
            match["ManufacturerModelName"] = _glob_exact(model)
        rule = {"name": f"console-{len(self.zone_rules()) + 1}", "match": match,
                "boxes": [[x0, y0, x1 - x0, y1 - y0]]}
        from gantry.api import AuditEvent

        self.store.log_event(AuditEvent(kind=ZONE_EVENT, subject=self.session.run.map_uid(
            inst.sop_instance_uid), detail={"rule": rule, "who": self.user,
                                            "finding": finding.code, "time": time.time()},
            run_id=self.session.run.run_id, time=time.time()))
        self.store.checkpoint()
        self.apply_zone_rules()
        return rule

    def apply_zone_rules(self) -> None:
        """Open the session's profile again, so that it takes in every zone rule the store
        holds (the kernel extends the profile with them), and drop what was previewed."""
        self.session.use_profile(self.base_profile)
        with self._lock:
            self._previews.clear()
            self._headers.clear()

    def zones_yaml(self) -> str:
        """The accepted rules as YAML for ``plugins: {gantry-pixels: {zones: ...}}``."""
        import yaml

        rules = [{"name": r.get("name", ""), "match": r.get("match", {}),
                  "boxes": r.get("boxes", [])} for r in (e["rule"] for e in self.zone_rules())]
        if not rules:
            return ""
        return yaml.safe_dump({"plugins": {"gantry-pixels": {"zones": rules}}},
                              sort_keys=False, default_flow_style=None)


def store_zone_rules(store: Any) -> Iterator[dict[str, Any]]:
    """The profile additions the zone rules accepted in a console make (``pixel-zones`` in
    the stack, the rules appended to ``gantry-pixels`` zones), for ``gantry_store_profile``."""
    rules = [e.detail["rule"] for e in store.iter_events(kind=ZONE_EVENT)
             if isinstance(e.detail, dict) and e.detail.get("rule")]
    if rules:
        yield {"redact": ["pixel-zones"], "plugins": {"gantry-pixels": {"zones": rules}}}


def _text(ds: Any, keyword: str) -> str:
    """A header value as text for the page ('' when absent)."""
    if ds is None:
        return ""
    value = ds.get(keyword)
    if value is None:
        return ""
    from pydicom.multival import MultiValue

    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)


def _glob_exact(value: str) -> str:
    """A glob matching exactly ``value`` (glob characters bracketed)."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in value)
