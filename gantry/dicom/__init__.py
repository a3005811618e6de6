"""The byte layer: DICOM data sets read at the level of their encoded elements.

One implementation, used by the kernel and (through :mod:`gantry.api`) by plugins:

* :mod:`gantry.dicom.elements` — split an explicit VR little endian data set into the byte
  spans of its top-level elements (sequences and encapsulated pixel data skipped item by item,
  iteratively), and build the raw element pydicom's reader yields for a span;
* :mod:`gantry.dicom.header` — a file's header as ``dcmread(..., stop_before_pixels=True)``
  reads it, built from those spans;
* :mod:`gantry.dicom.rawheader` — a header kept as spans, decoded only where asked;
* :mod:`gantry.dicom.values` — decoded values of raw elements, through a shared cache;
* :mod:`gantry.dicom.structure` — check that a whole file is well formed (every declared
  length inside the bytes, every sequence and item closed, nesting bounded, pixel data as long
  as the image needs), in any transfer syntax, iteratively;
* :mod:`gantry.dicom.encode` — the kernel's encoder (``dcmwrite``'s bytes, written faster).

Malformed bytes raise :class:`~gantry.dicom.errors.DicomFormatError` (with the offset and the
reason); callers read the file with pydicom instead, or reject it. This package imports only
pydicom and the standard library.
"""
