"""Testing kit for Gantry and its plugins.

* :mod:`gantry.testing.factory` — synthetic studies with planted identifiers;
* :mod:`gantry.testing.iods` — one valid instance of each of many IOD families (CT, MR, PET,
  US, SC, SR, RT, SEG, ECG, enhanced multi-frame), identifiers planted;
* :mod:`gantry.testing.dciodvfy` — dicom3tools' IOD validator, errors before and after;
* :mod:`gantry.testing.plugin` — an opt-in pytest plugin (``-p gantry.testing.plugin``);
* :mod:`gantry.testing.store_contract` — the test suite every store backend must pass;
* :mod:`gantry.testing.docs` — run a documentation page's Python examples.
"""
