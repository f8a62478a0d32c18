"""`python -m xncost`: the same command line as `xncost`."""

from xncost.cli import main

main()
