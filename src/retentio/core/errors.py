"""The one error hierarchy of retentio.

Every error the package raises on purpose derives from :class:`RetentioError`, so a caller can
catch everything retentio-specific with one ``except``::

    RetentioError
    ├── ConfigurationError        a setting or argument combination that cannot work
    ├── ConvergenceError          a model fit that did not converge to finite estimates
    ├── DataError                 input data that cannot be used as given
    │   ├── SchemaError           missing / unknown columns, wrong types
    │   ├── ParseError            unparseable values (dates, amounts), with row numbers
    │   ├── EmptyDataError        nothing to work on
    │   ├── CurrencyError         mixed currencies without a conversion
    │   └── DefinitionError       a segment, campaign or journey definition, with the path
    │                             of the problem (SegmentError, CampaignError, JourneyError)
    ├── ModelFormatError          saved model JSON of another type or version, or malformed
    └── MoneyError                arithmetic on amounts of different currencies, bad precision
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigurationError",
    "ConvergenceError",
    "CurrencyError",
    "DataError",
    "DefinitionError",
    "EmptyDataError",
    "ModelFormatError",
    "MoneyError",
    "ParseError",
    "RetentioError",
    "RowProblem",
    "SchemaError",
]


class RetentioError(Exception):
    """Root of every error retentio raises on purpose."""


class ConfigurationError(RetentioError):
    """A setting or an argument combination that cannot work."""


class ConvergenceError(RetentioError):
    """A model fit that failed to converge or gave non-finite estimates."""


class ModelFormatError(RetentioError):
    """Saved model JSON that is malformed or of another model type or format version."""


class DataError(RetentioError):
    """Input data that cannot be used as given."""


class DefinitionError(DataError):
    """A definition (YAML/JSON) that cannot be used; ``path`` names where (``where.all[1]``,
    ``message.da.subject``) and ``reason`` says what is wrong there."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}")


class SchemaError(DataError):
    """Columns are missing, unknown or of an unusable type."""


class EmptyDataError(DataError):
    """The input holds no rows to work on."""


class CurrencyError(DataError):
    """Amounts in several currencies and no conversion was given."""


class MoneyError(RetentioError):
    """Money arithmetic that would mix currencies or lose precision."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One rejected input row: its 1-based data row number, the field and the raw value."""

    row: int
    field: str
    value: str
    reason: str


class ParseError(DataError):
    """Rows whose values cannot be parsed: the count per field and the first problems in order."""

    max_listed = 20

    def __init__(self, counts: Mapping[str, int], problems: Sequence[RowProblem]) -> None:
        self.counts = dict(counts)
        self.count = sum(self.counts.values())
        self.problems = tuple(problems[: self.max_listed])
        per_field = ", ".join(f"{n} with an unparseable {f}" for f, n in self.counts.items())
        listed = "; ".join(f"row {p.row} {p.field}={p.value!r} ({p.reason})" for p in self.problems)
        shown = f"The first {len(self.problems)}" if self.count > len(self.problems) else "All"
        super().__init__(
            f"{self.count} problem(s) in the input: {per_field}. {shown}: {listed}. "
            "Fix them, or load with skip_invalid=True (CLI: --skip-invalid) to write the "
            "rejected rows to a rejects file."
        )
