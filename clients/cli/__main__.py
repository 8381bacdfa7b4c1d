"""`python -m clients.cli ...`: the same tool as the `campaign-lift` entry point."""

from clients.cli import main

main()
