"""Bundled and synthetic data: the CDNOW research data and a deterministic synthetic shop."""

from retentio.datasets.cdnow import load_cdnow, load_cdnow_summary, load_donations
from retentio.datasets.synthetic import ShopParams, ShopStats, generate_shop, write_shop

__all__ = [
    "ShopParams",
    "ShopStats",
    "generate_shop",
    "load_cdnow",
    "load_cdnow_summary",
    "load_donations",
    "write_shop",
]
