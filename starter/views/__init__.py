"""How things read in a terminal: tables, deployment and rollout views."""
