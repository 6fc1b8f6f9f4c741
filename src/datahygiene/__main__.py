"""``python -m datahygiene`` runs the CLI."""

from datahygiene.cli import main

main()
