"""The transaction models by their short keys (the ``--model`` names of ``retentio clv``)."""

from __future__ import annotations

from retentio.core.errors import ConfigurationError
from retentio.models.base import Model
from retentio.models.betageo import BetaGeo
from retentio.models.bgbb import BetaGeoBetaBinom
from retentio.models.modbetageo import ModifiedBetaGeo
from retentio.models.pareto import ParetoNBD

__all__ = ["CONTINUOUS_MODELS", "MODEL_KEYS", "new_transaction_model"]

_CLASSES: dict[str, type[Model]] = {
    "bgnbd": BetaGeo,
    "mbgnbd": ModifiedBetaGeo,
    "pareto": ParetoNBD,
    "bgbb": BetaGeoBetaBinom,
}
#: Every key, in the order they are listed to users.
MODEL_KEYS: tuple[str, ...] = tuple(_CLASSES)
#: The continuous-time models that :func:`retentio.models.select` compares by default.
CONTINUOUS_MODELS: tuple[str, ...] = ("bgnbd", "mbgnbd", "pareto")


def new_transaction_model(key: str, penalizer: float = 0.0) -> Model:
    """An unfitted transaction model for ``key`` (bgnbd, mbgnbd, pareto or bgbb)."""
    try:
        cls = _CLASSES[key.lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown model {key!r}: choose one of {', '.join(MODEL_KEYS)}"
        ) from None
    return cls(penalizer=penalizer)
