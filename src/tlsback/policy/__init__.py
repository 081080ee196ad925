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
