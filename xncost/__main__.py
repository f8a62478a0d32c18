"""`python -m xncost`: the same command line as `xncost`."""

from xncost.cli import main

if __name__ == "__main__":  # not when re-imported as a spawned process's __mp_main__
    main()
