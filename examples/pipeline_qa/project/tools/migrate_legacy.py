"""The poison task: the legacy API it needs is gone, so it always fails."""

import sys

print("legacy API at legacy.internal:8080 is unreachable", file=sys.stderr)
sys.exit(3)
