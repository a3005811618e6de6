"""deid (pydicom/deid): replace_identifiers with its default recipe, writing to DST."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _walk import args, pairs


def main() -> None:
    from deid.dicom import replace_identifiers

    src, dst = args()
    files = list(pairs(src, dst))
    by_folder: dict[str, list[str]] = {}
    for source, target in files:
        by_folder.setdefault(os.path.dirname(target), []).append(source)
    for target_folder, sources in by_folder.items():
        replace_identifiers(dicom_files=sources, save=True, output_folder=target_folder,
                            overwrite=True)


if __name__ == "__main__":
    main()
