"""Whether a TCP port can be listened on, asked before a server or a rendezvous starts, so that a
port in use is one line instead of a trace from deep inside aiohttp or torch's store."""
from __future__ import annotations

import socket


def bind_problem(port: int, host: str = "127.0.0.1") -> str | None:
    """Why `port` cannot be listened on at `host` (every address it resolves to), or None."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        return f"{host}: {e.strerror or e}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as s:
            # As the servers themselves bind: a port whose last connection is still closing is free.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(address)
            except OSError as e:
                return e.strerror or str(e)
    return None
