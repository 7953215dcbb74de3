"""ISO 3166-1 alpha-2 country codes: those libphonenumber knows, plus the few without phones."""

from __future__ import annotations

import phonenumbers

__all__ = ["COUNTRY_CODES"]

# Reserved by ISO but not country codes (Ascension, Tristan da Cunha), kept apart by libphonenumber.
_NOT_COUNTRIES = {"AC", "TA"}
# Territories with no telephone numbering plan of their own, so missing from libphonenumber.
_WITHOUT_PHONES = {"AQ", "BV", "GS", "HM", "PN", "TF", "UM"}

COUNTRY_CODES = frozenset(
    code
    for code in phonenumbers.SUPPORTED_REGIONS
    if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
) | frozenset(_WITHOUT_PHONES)
