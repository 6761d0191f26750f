"""Pre-filled, documented variable sets applied with `coderunner config template apply NAME`.

Applying never overwrites a key that is already set (unless asked), so a template is a safe
starting point on an environment that already has values. Secret placeholders are empty: the
template says *what* to set; the value must come from stdin or a file.
"""

from __future__ import annotations

from coderunner.models.configstore import ConfigEntry


def _e(key: str, value: str, description: str, secret: bool = False) -> ConfigEntry:
    return ConfigEntry(key=key, value=value, secret=secret, description=description)


TEMPLATES: dict[str, tuple[str, list[ConfigEntry]]] = {
    "node": (
        "A Node.js service",
        [
            _e("NODE_ENV", "production", "development | production: enables framework optimisations"),
            _e("LOG_LEVEL", "info", "error | warn | info | debug"),
            _e("NODE_OPTIONS", "--max-old-space-size=384", "V8 flags; keep the heap below the memory limit"),
            _e(
                "SESSION_SECRET",
                "",
                "cookie/session signing key (set it: `config set SESSION_SECRET --secret`)",
                secret=True,
            ),
        ],
    ),
    "react": (
        "A React single-page app built at deploy time",
        [
            _e("NODE_ENV", "production", "build mode"),
            _e("PUBLIC_URL", "/", "path the app is served under"),
            _e(
                "REACT_APP_API_URL",
                "http://localhost:8000",
                "backend base URL baked into the bundle (public!)",
            ),
            _e("GENERATE_SOURCEMAP", "false", "ship source maps to browsers or not"),
        ],
    ),
    "python": (
        "A Python web service",
        [
            _e("PYTHONUNBUFFERED", "1", "flush stdout/stderr at once so logs are not lost on a crash"),
            _e("PYTHONDONTWRITEBYTECODE", "1", "no .pyc files in the read-only app directory"),
            _e("LOG_LEVEL", "INFO", "logging level name"),
            _e("WEB_CONCURRENCY", "2", "worker processes per instance (gunicorn/uvicorn)"),
            _e("SECRET_KEY", "", "framework signing key (Django/Flask): set it as a secret", secret=True),
        ],
    ),
    "postgres": (
        "Connection settings for a PostgreSQL client (libpq variables)",
        [
            _e("PGHOST", "localhost", "database host"),
            _e("PGPORT", "5432", "database port"),
            _e("PGDATABASE", "app", "database name"),
            _e("PGUSER", "app", "role to connect as"),
            _e("PGPASSWORD", "", "that role's password: set it as a secret", secret=True),
            _e("PGSSLMODE", "prefer", "disable | prefer | require | verify-full"),
        ],
    ),
}
