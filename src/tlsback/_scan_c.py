"""The C scanner (tlsback._certscan, built from src/_native): placeholder until it lands."""

from __future__ import annotations

raise ImportError("tlsback._certscan is not built yet")
