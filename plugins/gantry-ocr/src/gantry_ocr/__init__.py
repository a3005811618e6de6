"""gantry-ocr: find, redact and verify text burned into DICOM pixels with tesseract.

Hook implementations live in :mod:`gantry_ocr.plugin`; OCR in :mod:`gantry_ocr.engine`, text
classification in :mod:`gantry_ocr.classify`, the auditor and redactor in
:mod:`gantry_ocr.components` and zone-rule discovery in :mod:`gantry_ocr.discover`.
"""

__version__ = "0.1.0"
