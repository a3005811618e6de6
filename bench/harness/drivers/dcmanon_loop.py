"""dcmanon (Rust, Python bindings): anonymize every file with the default configuration."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _walk import args, pairs
from dcmanon import Anonymizer


def main() -> None:
    src, dst = args()
    anonymizer = Anonymizer()
    for source, target in pairs(src, dst):
        data = anonymizer.anonymize(source)
        with open(target, "wb") as out:
            out.write(data)


if __name__ == "__main__":
    main()
