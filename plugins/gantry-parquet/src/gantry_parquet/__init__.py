"""Gantry plugin: the ``parquet`` exporter, instance tables and ``gantry query``."""

__version__ = "0.1.0"
