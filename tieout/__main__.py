"""`python -m tieout` runs the CLI."""

from tieout.cli import main

main()
