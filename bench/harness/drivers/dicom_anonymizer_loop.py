"""dicom-anonymizer (KitwareMedical): its default rules on every file (its CLI does not recurse)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _walk import args, pairs
from dicomanonymizer.simpledicomanonymizer import anonymize_dicom_file


def main() -> None:
    src, dst = args()
    for source, target in pairs(src, dst):
        anonymize_dicom_file(source, target)


if __name__ == "__main__":
    main()
