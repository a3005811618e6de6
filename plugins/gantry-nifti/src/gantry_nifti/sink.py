"""The series sinks of the ``nifti`` and ``bids`` exporters.

Each sink gets one whole series (``runs_in="series"``): ``write`` parses the gate-checked,
de-identified bytes of each instance (never the original file), ``finish_series`` assembles
the volume, lays out the files, passes every file name, header and text through the export
gate with the identifying values of every instance of the series, and writes them
atomically. A series that does not make a volume is left out with one reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from typing import Any

from gantry_nifti.api import ImageGroup, Refusal, Volume, assemble_volume, image_groups
from gantry_nifti.files import local_root, write_atomic
from gantry_nifti.settings import load_settings


class _Item:
    __slots__ = ("dataset", "new_uid", "uid")

    def __init__(self, uid: str, new_uid: str, dataset: Any) -> None:
        self.uid, self.new_uid, self.dataset = uid, new_uid, dataset


class NiftiSeriesSink:
    """``nifti``: ``<PatientID>/<StudyInstanceUID>/<SeriesNumber>_<SeriesInstanceUID>.nii.gz``
    from the de-identified values, with a ``.json`` sidecar and, for diffusion, ``.bval`` and
    ``.bvec``."""

    #: reads nothing of the dataset it is handed but the encoded bytes (the memoized pass may
    #: hand it a stub)
    takes_byte_pass_stub = True
    format = "nifti"

    def __init__(self, target: Any, run: Any = None) -> None:
        self.destination = target.to
        self.root = local_root(target.to)
        self.options = dict(target.options or {})
        self.run = run
        self.settings = load_settings(run.settings("gantry-nifti") if run is not None else {})
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from gantry.api import ExportError

            raise ExportError(f"{self.root}: cannot create export folder "
                              f"({exc.strerror})") from exc
        self._items: list[_Item] = []
        self._identifiers: Any = None
        self._merged: set[int] = set()
        self._study_uid = ""

    def target_path(self, dataset: Any, context: Any) -> str:
        """No per-instance file: the series' files are named in :meth:`finish_series`."""
        return ""

    def write(self, relpath: str, data: bytes, dataset: Any, context: Any) -> None:
        """Keep the de-identified instance (parsed from ``data``) until the series is whole."""
        ds = _parsed(data)
        self._items.append(_Item(context.instance.sop_instance_uid,
                                 str(ds.get("SOPInstanceUID", "")), ds))
        self._study_uid = context.instance.study_instance_uid
        ids = context.identifiers
        if ids is not None and id(ids) not in self._merged:
            self._merged.add(id(ids))
            if self._identifiers is None:
                self._identifiers = dataclasses.replace(ids, values=dict(ids.values))
            else:
                self._identifiers.update(ids)
        return None

    def finish_series(self) -> Any:
        """Assemble, lay out, gate and write the series; the outcome per instance."""
        from gantry.api import SeriesOutcome

        if not self._items:
            return SeriesOutcome()
        datasets = [item.dataset for item in self._items]
        first = datasets[0]
        what = (f"series {first.get('SeriesInstanceUID', '?')} (number "
                f"{first.get('SeriesNumber', '?')}, {len(datasets)} instances)")
        outcome = SeriesOutcome()
        for group in image_groups(datasets):
            part = what + (f", echo {group.echo}" if group.echo else "") + \
                (", phase" if group.phase else "")
            self._finish_group([self._items[i] for i in group.indices], part, group, outcome)
        return outcome

    def _finish_group(self, items: list[_Item], what: str, group: ImageGroup,
                      outcome: Any) -> None:
        """Assemble, lay out, gate and write one volume of the series into ``outcome``."""
        from gantry.api import ExportRecord

        datasets = [item.dataset for item in items]
        try:
            volume = assemble_volume(datasets)
        except Refusal as refusal:
            outcome.skipped.update(dict.fromkeys([i.uid for i in items],
                                                 f"{what}: not converted: {refusal.reason}"))
            return
        for ds in datasets:  # the volume holds the voxels now: the series is not held twice
            if "PixelData" in ds:
                del ds.PixelData
        ref = datasets[volume.reference]
        files = self.layout(volume, ref, group)
        if not files:
            outcome.skipped.update(dict.fromkeys(
                [i.uid for i in items], f"{what}: skipped: no BIDS rule or default matches it"))
            return
        self._gate(files, volume)
        main_rel, main_data = files[0]
        mtime = 0
        for rel, data in files:
            stamp = write_atomic(self.root, rel, data)
            if rel == main_rel:
                mtime = stamp
        digest = hashlib.sha256(main_data).hexdigest()
        for item in items:
            outcome.records[item.uid] = [ExportRecord(
                sop_instance_uid=item.uid, new_sop_instance_uid=item.new_uid,
                destination=self.destination, path=main_rel, size=len(main_data),
                sha256=digest, format=self.format, mtime_ns=mtime)]

    def close(self) -> None:
        """Drop what the series held."""
        self._items.clear()
        self._identifiers = None

    # -- layout --------------------------------------------------------------------------------
    def _name(self, ref: Any) -> str:
        from gantry.api import safe_component

        number = ref.get("SeriesNumber")
        series = safe_component(ref.get("SeriesInstanceUID"))
        stem = f"{safe_component(number)}_{series}" if number not in (None, "") else series
        return "/".join([safe_component(ref.get("PatientID")),
                         safe_component(ref.get("StudyInstanceUID")), stem])

    def _volume_files(self, stem: str, volume: Volume, ref: Any,
                      sidecar_extra: dict[str, Any] | None = None,
                      slice_timing: bool = True) -> list[tuple[str, bytes]]:
        from gantry_nifti.nifti import nifti_bytes, reoriented
        from gantry_nifti.sidecar import phase_axis, repetition_time, sidecar

        compress = self.settings.compress
        ext = ".nii.gz" if compress else ".nii"
        if volume.array.ndim == 3 and volume.slice_timing is None and \
                str(ref.get("MRAcquisitionType", "") or "").upper() == "3D":
            volume = reoriented(volume)  # as dcm2niix rotates 3-D acquisitions
        image = nifti_bytes(volume, compress=compress, repetition_time=repetition_time(ref),
                            phase_axis=phase_axis(ref) if str(ref.get("Modality")) == "MR"
                            else None)
        meta = sidecar(ref, volume, slice_timing=slice_timing, extra=sidecar_extra)
        files = [(stem + ext, image),
                 (stem + ".json", (json.dumps(meta, indent=2) + "\n").encode("utf-8"))]
        if volume.bvals is not None and volume.bvecs is not None:
            bval = " ".join(_g(b) for b in volume.bvals) + "\n"
            bvec = "".join(" ".join(_g(v) for v in row) + "\n" for row in volume.bvecs)
            files += [(stem + ".bval", bval.encode()), (stem + ".bvec", bvec.encode())]
        return files

    def layout(self, volume: Volume, ref: Any, group: ImageGroup | None = None
               ) -> list[tuple[str, bytes]]:
        """The files of one volume (the image first), relative to the destination; a series
        split in several (echoes, phase) gets ``_e<n>``/``_ph`` added, as dcm2niix does."""
        stem = self._name(ref) + (group.label if group is not None else "")
        return self._volume_files(stem, volume, ref)

    def _gate(self, files: list[tuple[str, bytes]], volume: Volume) -> None:
        """Raise ``LeakError`` when a name, a NIfTI header or a text file holds an identifying
        value of any instance of the series (voxel bytes are not text: not scanned)."""
        from gantry.api import LeakError, find_leaks

        if self._identifiers is None:
            return
        leaks = []
        for rel, data in files:
            if rel.endswith((".nii", ".nii.gz")):
                data = _nifti_header(data)
            leaks += find_leaks(data, rel, self._identifiers)
        if leaks:
            detail = "; ".join(str(leak) for leak in leaks[:5])
            raise LeakError(f"export gate: identifying values would be written: {detail}")


class BidsSeriesSink(NiftiSeriesSink):
    """``bids``: ``sub-<pseudonym>/ses-<n>/<datatype>/sub-..._<entities>_<suffix>.nii.gz``
    by the profile's rules and the defaults; unmatched series are skipped or, with
    ``unmatched: sourcedata``, written under ``sourcedata/``."""

    takes_byte_pass_stub = True
    format = "bids"

    def layout(self, volume: Volume, ref: Any, group: ImageGroup | None = None
               ) -> list[tuple[str, bytes]]:
        """The series' files in the BIDS tree, and its staged facts for the TSV files (an
        echo of a multi-echo series: the ``echo`` entity, or ``magnitude<n>`` for a field
        map's magnitudes)."""
        from gantry_nifti.bids import (
            STAGING,
            acq_time,
            file_stem,
            label,
            participant,
            place,
            with_echo,
        )

        bids = self.settings.bids
        subject = label(ref.get("PatientID"), "unknown")
        key = self.run.keyed_hash(self._study_uid) if self.run is not None else ""
        session = str(self.options.get("bids_sessions", {}).get(key, 1))
        number = _series_number(ref)
        label = group.label if group is not None else ""
        placement = place(ref, volume, bids)
        if placement is not None and label:
            placement = with_echo(placement, group)
        if placement is None:
            if bids.unmatched != "sourcedata":
                return []
            stem = f"sourcedata/sub-{subject}/ses-{session}/series-{number}{label}"
            files = self._volume_files(stem, volume, ref)
            in_bids = False
        else:
            stem = f"sub-{subject}/ses-{session}/{placement.datatype}/" + \
                file_stem(subject, session, placement, number)
            files = self._volume_files(stem, volume, ref, placement.sidecar,
                                       slice_timing=placement.datatype in ("func", "dwi"))
            in_bids = True
        scan = files[0][0].split("/", 2)[2] if in_bids else files[0][0]
        facts = {"subject": subject, "session": session, "path": files[0][0], "scan": scan,
                 "acq_time": acq_time(ref), "participant": participant(ref), "bids": in_bids}
        series_key = hashlib.sha256(f"{ref.get('SeriesInstanceUID', '')}/{label}".encode()
                                    ).hexdigest()
        facts["series"] = series_key[:16]
        staged = f"{STAGING}/sub-{subject}_ses-{session}_series-{number}_{series_key[:12]}.json"
        return [*files, (staged, (json.dumps(facts) + "\n").encode())]


def _parsed(data: bytes) -> Any:
    """``data`` (an encoded Part 10 file) as the dataset ``dcmread`` reads, pixel data
    included: from the kernel's byte layer (its element split, no per-element reader) when
    it is explicit VR little endian, else through ``dcmread``. The dataset does not keep
    ``data`` (its elements hold their own values), so the series is held once."""
    from gantry.api import header_from_bytes, raw_element, split

    found = header_from_bytes(data) if isinstance(data, bytes) else None
    if found is None:
        import pydicom

        return pydicom.dcmread(io.BytesIO(data))
    ds, end = found
    if end < len(data):  # the pixel data and what follows it
        for span in split(data, end):
            ds[span.tag] = raw_element(data, span, ds._character_set)
    ds.buffer = None
    return ds


def _series_number(ref: Any) -> str:
    try:
        return str(int(ref.get("SeriesNumber")))
    except (TypeError, ValueError):
        return str(int(hashlib.sha256(str(ref.get("SeriesInstanceUID", "")).encode())
                       .hexdigest()[:6], 16) % 100000)


def _g(value: float) -> str:
    return f"{float(value):.6g}"


def _nifti_header(data: bytes) -> bytes:
    """The header (and extension flag) of a ``.nii`` or ``.nii.gz`` file."""
    if data[:2] == b"\x1f\x8b":
        import gzip

        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            return gz.read(352)
    return data[:352]


__all__ = ["BidsSeriesSink", "NiftiSeriesSink"]
