"""The ``native`` backend: the operating system's verifier through truststore.

The OS verifier and store decide (Security.framework on macOS, CryptoAPI on Windows, OpenSSL
with the system paths on Linux); the custom certificates are loaded alongside
(docs/configuration.md, "Backends"). On Linux, where truststore's verifier is OpenSSL itself,
:mod:`tlsback._truststore_linux` keeps its semantics but loads the system store once per context
instead of on every connection.
"""

from __future__ import annotations

import ssl

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from ..loader import TrustStore

__all__ = ["NativeBackend"]


class NativeBackend:
    """truststore's ``SSLContext``: the OS verifier, plus the custom certificates."""

    name = "native"
    description = "operating system verifier and store (truststore); custom certificates alongside"
    uses_platform_store = False

    def create_context(self, store: TrustStore, *, verify: bool = True) -> ssl.SSLContext:
        """Return an OS-verifier context with the custom certificates of ``store`` added."""
        from .. import _truststore_linux

        ctx: ssl.SSLContext
        if _truststore_linux.applies():
            ctx = _truststore_linux.native_context(verify)
        else:
            import truststore

            ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if not verify:
                ctx.check_hostname = False  # must come before CERT_NONE
                ctx.verify_mode = ssl.CERT_NONE
        # TLS 1.0/1.1 are broken (RFC 8996); uv's native backend refuses them too.
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if verify and store.count:
            from ..anchors import load_anchors

            load_anchors(ctx, store)
        return ctx
