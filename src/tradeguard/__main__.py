"""``python -m tradeguard`` runs the CLI."""

from tradeguard.cli.main import main

main()
