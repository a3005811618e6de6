"""Hook implementations of gantry-nifti (cheap imports only: nibabel loads on first use)."""

from __future__ import annotations

from collections.abc import Iterator

from gantry import hookimpl
from gantry.api import ConfigKey


@hookimpl
def gantry_config_keys() -> Iterator[ConfigKey]:
    """Declare the ``gantry-nifti`` settings section (compression, BIDS rules)."""
    from gantry_nifti.settings import NiftiSettings

    yield ConfigKey("gantry-nifti", model=NiftiSettings,
                    description="NIfTI/BIDS export: compression, BIDS rules and defaults")
