"""``python -m datahygiene`` runs the CLI."""

from datahygiene.cli.main import main

main()
