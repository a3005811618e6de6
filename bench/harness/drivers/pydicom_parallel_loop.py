"""The floor on every core: the pydicom read+write loop, its files dealt round-robin to N
processes forked after pydicom is imported (no de-identification).

This is what "the floor x cores" measures on the machine at hand, start-up and all: the same
loop as ``pydicom_loop.py``, paying one import, with every core busy. ``N`` is the third
argument (default: every core).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _walk import on_every_core
from pydicom_loop import copy_all  # (imports pydicom: every process forked below has it)


def main() -> None:
    on_every_core(copy_all)


if __name__ == "__main__":
    main()
