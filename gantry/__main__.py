"""``python -m gantry`` runs the command line."""

from gantry.cli import main

main()
