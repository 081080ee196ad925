"""The default backend: stdlib ``ssl`` configured and checked to behave like rustls + webpki.

Trust is the platform store plus the custom certificates, merged (docs/sources.md, "Merging,
deduplication and `only` mode"); the policy (versions, ciphers, name and chain checks) lives in
:mod:`tlsback.policy`.
"""

from __future__ import annotations

import ssl

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from ..loader import TrustStore

__all__ = ["RustlsBackend"]


class RustlsBackend:
    """stdlib ``ssl`` with rustls' verification policy over tlsback's own trust store."""

    name = "rustls"
    description = "stdlib ssl with rustls/webpki policy; platform store + custom certificates"
    uses_platform_store = True

    def create_context(self, store: TrustStore, *, verify: bool = True) -> ssl.SSLContext:
        """Return a client context trusting ``store`` (or verifying nothing, for insecure hosts)."""
        from ..anchors import load_anchors
        from ..policy.context import new_context

        ctx = new_context(verify=verify)
        if verify:
            load_anchors(ctx, store)
        return ctx
