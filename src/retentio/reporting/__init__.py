"""A one-file, self-contained HTML retention report: KPIs, cohorts, gaps, segments, revenue."""

from retentio.reporting.html import build_report, write_report

__all__ = ["build_report", "write_report"]
