"""``python -m bench``: gantry against the floors and every peer, on the same files, checked.

See ``bench/README.md`` and ``docs/performance.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.run import main

if __name__ == "__main__":
    sys.exit(main())
