"""Money as integer minor units plus an ISO 4217 currency code.

Floats never hold money in the operational parts of retentio. (The analytics tables use float
major units, as analysts and the BTYD literature do; :meth:`Money.from_major` converts exactly.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from retentio.core.errors import MoneyError

__all__ = ["Money", "minor_unit_exponent"]

# ISO 4217 exponents that differ from the default of 2 (the currencies retentio's shops meet).
_EXPONENTS: dict[str, int] = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "OMR": 3, "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip


def minor_unit_exponent(currency: str) -> int:
    """Number of decimal places of ``currency``'s minor unit (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get(currency.upper(), 2)


def _check_code(currency: str) -> str:
    code = currency.upper()
    if len(code) != 3 or not code.isalpha():
        raise MoneyError(f"currency must be a 3-letter ISO 4217 code, got {currency!r}")
    return code


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount: ``minor`` units (e.g. øre, cents) of ``currency``."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError(f"minor units must be an int, got {type(self.minor).__name__}")
        object.__setattr__(self, "currency", _check_code(self.currency))

    @classmethod
    def from_major(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build from a major-unit amount such as ``"12.50"``; refuses sub-minor precision."""
        code = _check_code(currency)
        try:
            value = Decimal(str(amount))
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {amount!r}") from exc
        if not value.is_finite():
            raise MoneyError(f"not a finite amount: {amount!r}")
        scaled = value.scaleb(minor_unit_exponent(code))
        if scaled != scaled.to_integral_value():
            raise MoneyError(
                f"{amount!r} has more decimals than {code} allows ({minor_unit_exponent(code)})"
            )
        return cls(int(scaled), code)

    def to_major(self) -> Decimal:
        """The amount in major units as an exact Decimal."""
        return Decimal(self.minor).scaleb(-minor_unit_exponent(self.currency))

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def multiply(self, factor: Decimal | int, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Multiply by ``factor``, rounding to whole minor units (banker's rounding by default)."""
        product = (Decimal(self.minor) * Decimal(factor)).quantize(Decimal(1), rounding=rounding)
        return Money(int(product), self.currency)

    def __str__(self) -> str:
        exponent = minor_unit_exponent(self.currency)
        return f"{self.to_major():.{exponent}f} {self.currency}"
