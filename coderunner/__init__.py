"""CodeRunner's shared core, under one import name: models, pure decisions, the sandbox host, the store,
the payload codec, telemetry and the Temporal client set-up used by both `worker.py` and `starter/`."""
