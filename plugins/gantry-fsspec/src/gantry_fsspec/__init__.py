"""gantry-fsspec: DICOM inputs read from any fsspec file system."""

__version__ = "0.1.0"
