"""The simulator's optional TLS listener: an `ssl.SSLContext` from a certificate and key.

Binance serves `wss://stream.binance.com:9443` and `https://api.binance.com`; a client that
insists on those schemes can be pointed at the simulator once it listens with TLS. The
certificate is the caller's (tests generate a self-signed one, see tests/support/tls.py).
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    """A TLS server context for `certfile` (PEM, optionally with the key in it) and `keyfile`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certfile), str(keyfile) if keyfile is not None else None)
    return context


def resolve(ssl_context: ssl.SSLContext | None, certfile: str | Path | None,
            keyfile: str | Path | None) -> ssl.SSLContext | None:
    """The context the server listens with: the one given, or one built from cert/key paths,
    or None (plain ws:// and http://)."""
    if ssl_context is not None and (certfile is not None or keyfile is not None):
        raise ValueError("give the simulator either ssl_context or certfile/keyfile, not both")
    if ssl_context is not None:
        return ssl_context
    if certfile is not None:
        return server_context(certfile, keyfile)
    if keyfile is not None:
        raise ValueError("keyfile needs a certfile")
    return None
