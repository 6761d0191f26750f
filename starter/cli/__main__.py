"""`python -m starter.cli …` is `coderunner …`."""

from starter.cli.app import main

main()
