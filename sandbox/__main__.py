"""`python -m sandbox` is the same as `python -m sandbox.host`."""

from sandbox.host import main

main()
