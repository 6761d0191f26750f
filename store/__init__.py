"""The app database: deployment records and the audit trail (SQLite embedded, PostgreSQL distributed)."""

from store.engine import make_engine
from store.redaction import REDACTED, redact_env
from store.repository import Store
from store.tables import AuditEvent, DeploymentRecord

__all__ = ["REDACTED", "AuditEvent", "DeploymentRecord", "Store", "make_engine", "redact_env"]
