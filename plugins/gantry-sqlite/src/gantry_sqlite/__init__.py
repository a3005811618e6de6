"""gantry-sqlite: the embedded SQLite store for Gantry (``sqlite:///cohort.db``).

The hook implementations live in :mod:`gantry_sqlite.plugin`; the store in
:mod:`gantry_sqlite.store`.
"""

__version__ = "0.1.0"
