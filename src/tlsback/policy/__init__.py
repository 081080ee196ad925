"""rustls + webpki's verification policy, reproduced on stdlib :mod:`ssl`.

* :mod:`.context`: the options OpenSSL enforces by itself (:func:`new_context`), each with why.
* :mod:`.rules`: webpki's rules OpenSSL does not enforce, pure functions over parsed
  certificates (:func:`check_chain`, :func:`check_leaf`); :mod:`.names`: name constraints.
* :mod:`.hooks`: the fail-closed gate every connection's data passes through.
* :mod:`.wording`: failures in uv's words, naming the certificate at fault.

Failures, OpenSSL's own included, surface as :class:`ssl.SSLCertVerificationError` carrying
rustls' reason (``rustls_reason``); see docs/verification.md for what stays different from uv.
"""

from __future__ import annotations

# Only the context options are on every program's start-up path; the rules, the DER reader and
# the wording load at the first handshake (PEP 562), so nothing heavier than ssl is imported
# to build a context (docs/cache.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .context import CIPHERS, new_context
    from .hooks import WebpkiSSLObject, WebpkiSSLSocket
    from .rules import PolicyViolation, check_chain, check_leaf

__all__ = [
    "CIPHERS",
    "PolicyViolation",
    "WebpkiSSLObject",
    "WebpkiSSLSocket",
    "check_chain",
    "check_leaf",
    "new_context",
]

_HOME = {"CIPHERS": "context", "new_context": "context", "WebpkiSSLObject": "hooks",
         "WebpkiSSLSocket": "hooks", "PolicyViolation": "rules", "check_chain": "rules",
         "check_leaf": "rules"}


def __getattr__(name: str) -> object:
    import importlib

    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    if name in ("context", "hooks", "names", "rules", "wording"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
