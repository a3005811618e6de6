"""Testing kit for Gantry and its plugins.

* :mod:`gantry.testing.factory` — synthetic studies with planted identifiers;
* :mod:`gantry.testing.plugin` — an opt-in pytest plugin (``-p gantry.testing.plugin``);
* :mod:`gantry.testing.store_contract` — the test suite every store backend must pass;
* :mod:`gantry.testing.docs` — run a documentation page's Python examples.
"""
