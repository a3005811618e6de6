"""The floor: read every file with pydicom and write it back unchanged (no de-identification)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pydicom
from _walk import args, pairs


def copy_all(jobs) -> None:
    """Read each ``(source, target)`` pair's source with pydicom and write it to its target."""
    for source, target in jobs:
        ds = pydicom.dcmread(source)
        ds.save_as(target)


def main() -> None:
    src, dst = args()
    copy_all(pairs(src, dst))


if __name__ == "__main__":
    main()
