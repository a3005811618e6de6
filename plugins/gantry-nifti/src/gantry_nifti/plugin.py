"""Hook implementations of gantry-nifti (cheap imports only: nibabel loads on first use)."""

from __future__ import annotations

from collections.abc import Iterator

from gantry import hookimpl
from gantry.api import ConfigKey, Exporter


def _nifti_sink(target, run):
    from gantry_nifti.sink import NiftiSeriesSink

    return NiftiSeriesSink(target, run)


def _bids_sink(target, run):
    from gantry_nifti.sink import BidsSeriesSink

    return BidsSeriesSink(target, run)


def _bids_prepare(target, run, store):
    from gantry_nifti.bids import session_numbers

    return session_numbers(run, store)


def _bids_finish(target, run):
    from gantry_nifti.bids import finish_dataset

    return finish_dataset(target, run)


@hookimpl
def gantry_exporters() -> Iterator[Exporter]:
    """Register ``nifti`` (one volume per series) and ``bids`` (a BIDS dataset); both get each
    series whole (``runs_in="series"``) and build volumes from the de-identified bytes."""
    yield Exporter("nifti", factory=_nifti_sink, schemes=("file",), runs_in="series",
                   description="one NIfTI volume (+ .bval/.bvec) per series, geometry as "
                               "dcm2niix gives it")
    yield Exporter("bids", factory=_bids_sink, schemes=("file",), runs_in="series",
                   prepare=_bids_prepare, finish=_bids_finish,
                   description="a BIDS dataset laid out by the profile's rules (sidecars, "
                               "participants.tsv, scans.tsv)")


@hookimpl
def gantry_own_files():
    """The volumes, sidecars, ``.bval``/``.bvec`` and BIDS dataset files the two exporters
    write: Gantry's own files when an output is taken as input (name and content)."""
    from gantry_nifti.own_files import own_files

    yield from own_files()


@hookimpl
def gantry_config_keys() -> Iterator[ConfigKey]:
    """Declare the ``gantry-nifti`` settings section (compression, BIDS rules)."""
    from gantry_nifti.settings import NiftiSettings

    yield ConfigKey("gantry-nifti", model=NiftiSettings,
                    description="NIfTI/BIDS export: compression, BIDS rules and defaults")
