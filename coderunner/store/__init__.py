"""The app database: deployment records and the audit trail (SQLite embedded, PostgreSQL distributed)."""

from coderunner.store.engine import make_engine
from coderunner.store.redaction import REDACTED, redact_env
from coderunner.store.repository import Store
from coderunner.store.tables import AuditEvent, DeploymentRecord

__all__ = ["REDACTED", "AuditEvent", "DeploymentRecord", "Store", "make_engine", "redact_env"]
