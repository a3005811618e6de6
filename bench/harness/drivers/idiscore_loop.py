"""idiscore: the default core (DICOM basic profile) applied to every file with deidentify()."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pydicom
from _walk import args, pairs
from idiscore.defaults import create_default_core


def main() -> None:
    src, dst = args()
    core = create_default_core()
    for source, target in pairs(src, dst):
        ds = core.deidentify(pydicom.dcmread(source))
        ds.save_as(target)


if __name__ == "__main__":
    main()
