"""retentio: measure, predict and act on customer retention."""

__version__ = "0.1.0"
