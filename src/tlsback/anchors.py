"""Handing a :class:`~tlsback.loader.TrustStore` to OpenSSL: the one side effect on a context.

Two ways (docs/cache.md):

* **lazy**: the store's cached hashed directory becomes the context's ``capath``; OpenSSL reads
  the few certificates a chain needs when it needs them. OpenSSL re-reads the directory by path
  for the whole life of the context, so the entry's lease (which keeps pruners away from it) is
  attached to the context.
* **eager**: every certificate as one ``cadata`` blob.
"""

from __future__ import annotations

import ssl

from . import _log

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from .loader import TrustStore

__all__ = ["load_anchors"]

log = _log.getLogger(__name__)


def load_anchors(ctx: ssl.SSLContext, store: TrustStore) -> None:
    """Add every certificate of ``store`` to ``ctx`` as a trust anchor.

    A lazy store hands OpenSSL its hashed directory (``capath``): certificates are read when a
    chain needs them. The directory's lease is attached to ``ctx``, so the cache entry outlives
    neither the context nor the store.

    An eager store loads all certificates (``cadata``). OpenSSL parses certificates more
    strictly than the scanners' framing check. If it refuses one, the certificates are loaded
    one at a time (OpenSSL ignores those it already has), the refused ones are reported, and the
    rest are still trusted: one bad certificate never removes the others' trust. That path is
    slow, but only bad input takes it.

    Args:
        ctx: a new client context (``ssl.SSLContext`` or ``truststore.SSLContext``).
        store: the trust anchors.
    """
    if store.lazy_dir is not None:
        ctx.load_verify_locations(capath=store.lazy_dir)
        if store.lease is not None:
            try:
                leases = ctx.__dict__.setdefault("_tlsback_leases", [])
                leases.append(store.lease)
            except AttributeError:  # a context class without __dict__: the store keeps it
                pass
        return
    if not store.count:
        return
    try:
        ctx.load_verify_locations(cadata=store.cadata())
        return
    except ssl.SSLError:
        pass
    for der, origin in zip(store.certs, store.origins):
        try:
            ctx.load_verify_locations(cadata=der)
        except ssl.SSLError as exc:
            from ._scantypes import shown

            log.warning("Ignoring a certificate in %s that OpenSSL cannot load (%s). "
                        "Continuing with the other certificates.", shown(origin), exc.reason or exc)
