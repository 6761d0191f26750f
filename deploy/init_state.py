"""One-shot for the compose stack: create the shared secrets in /data before any reader starts.

Two workers and the codec server starting together would otherwise each generate their own codec
key. The codec token comes from $CODERUNNER_CODEC_TOKEN when set, because the Web UI's codec
endpoint (configured in docker-compose.yml) must carry the same token in its path.
"""

from __future__ import annotations

import os

from coderunner.config.home import (
    HomeLayout,
    ensure_home,
    home_dir,
    read_or_create_key,
    read_or_create_token,
    write_private,
)


def main() -> None:
    layout = HomeLayout(ensure_home(home_dir()))
    read_or_create_key(layout.codec_key)
    read_or_create_token(layout.sandbox_token)
    token = os.environ.get("CODERUNNER_CODEC_TOKEN", "").strip()
    if token:
        write_private(layout.codec_token, token.encode())
    else:
        read_or_create_token(layout.codec_token)
    print(f"state ready in {layout.root}")


if __name__ == "__main__":
    main()
