"""Port choice: the conventional port when it is free, otherwise any free one."""

from __future__ import annotations

import socket


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def preferred_or_free(preferred: int, taken: set[int] | None = None) -> int:
    taken = taken or set()
    if preferred not in taken and is_free(preferred):
        return preferred
    while True:
        port = free_port()
        if port not in taken:
            return port
