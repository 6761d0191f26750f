"""The config and secrets service: versioned environments, envelope encryption, a hash-chained audit log."""
