"""Gantry plugin: export manifests, compliance reports and audit reports."""

__version__ = "0.1.0"
