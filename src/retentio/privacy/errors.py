"""The privacy services' errors, both under retentio's one root (``RetentioError``).

They live here rather than in ``core/errors.py`` because that module's hierarchy is pinned by a
test; the API maps them: NotFoundError -> 404, ConsentError -> 422, TokenError
(``retentio.core.signing``) -> 400/410 by its ``reason``.
"""

from __future__ import annotations

from retentio.core.errors import DataError, RetentioError

__all__ = ["ConsentError", "NotFoundError"]


class NotFoundError(RetentioError):
    """The customer (or other object) named does not exist."""


class ConsentError(DataError):
    """A consent that cannot be recorded as given (no linked order for soft opt-in, unknown
    text version, a marketing text without a withdrawal sentence, an unknown channel...)."""
