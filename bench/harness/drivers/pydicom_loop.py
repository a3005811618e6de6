"""The floor: read every file with pydicom and write it back unchanged (no de-identification)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pydicom
from _walk import args, pairs


def main() -> None:
    src, dst = args()
    for source, target in pairs(src, dst):
        ds = pydicom.dcmread(source)
        ds.save_as(target)


if __name__ == "__main__":
    main()
