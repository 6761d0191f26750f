"""`python -m sandbox` is the same as `python -m sandbox.host`."""

from coderunner.hosts.host import main

main()
