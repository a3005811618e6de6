"""Gantry plugin: the ``dask`` executor (Dask distributed, local or remote)."""

__version__ = "0.1.0"
