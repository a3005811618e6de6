"""gantry-pixels: pixel zone rules, CTP script import and lossless pixel re-encoding for Gantry.

The hook implementations live in :mod:`gantry_pixels.plugin`; the work is done in
:mod:`gantry_pixels.codec` (decode/blank/encode/markers), :mod:`gantry_pixels.zones` (rule
matching, the ``pixel-zones`` redactor) and :mod:`gantry_pixels.ctp` (CTP script import).
"""

__version__ = "0.1.0"
