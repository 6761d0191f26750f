"""The `coderunner` command: one module per command group, registered in `starter.cli.app`."""
