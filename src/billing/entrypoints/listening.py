"""Binding the HTTP address, and the one-line error when it cannot be bound (kept light: the CLI
imports it for every command, the HTTP server only for serve and local)."""

from __future__ import annotations

import socket


class CannotListen(RuntimeError):
    """The address cannot be bound (in use, or a host name that is not ours); one line from the CLI."""

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port} (BILLING_HTTP_HOST, BILLING_HTTP_PORT): "
                         f"{exc.strerror or exc}")


def probe_address(host: str, port: int) -> None:
    """Raise CannotListen unless `host`:`port` can be bound the way the workers will bind it
    (SO_REUSEPORT): before forking, so a port in use is one line, not one traceback per worker."""
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                  flags=socket.AI_PASSIVE):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                probe.bind(address)
    except OSError as exc:
        raise CannotListen(host, port, exc) from exc
