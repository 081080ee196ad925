"""The package version, read by setuptools and keyed into the trust cache."""

__version__ = "0.1.0"
