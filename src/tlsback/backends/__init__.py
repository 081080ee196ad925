"""The built-in backends, registered under the ``tlsback.backends`` entry-point group."""
