"""gantry-deface: remove the face from head CT and MR volumes (PS3.15 Clean Recognizable
Visual Features)."""

__version__ = "0.1.0"
