"""Unit tests of the model base class: save/load, compression, penalizer and errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from retentio.core.errors import ConfigurationError, ConvergenceError, ModelFormatError
from retentio.datasets import load_cdnow_summary
from retentio.models import BetaGeo, GammaGamma, Model
from retentio.models.base import compress


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def betageo(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


@pytest.fixture(scope="module")
def gammagamma(cdnow: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(cdnow["x"], cdnow["zbar"])


@pytest.mark.parametrize("which", ["betageo", "gammagamma"])
def test_json_round_trip(which: str, request: pytest.FixtureRequest) -> None:
    model: Model = request.getfixturevalue(which)
    text = model.to_json()
    document = json.loads(text)
    assert document["type"] == model.name and document["version"] == 1
    assert {"params", "log_likelihood", "n_customers", "penalizer"} <= set(document)
    for loader in (Model.from_json, type(model).from_json):
        loaded = loader(text)
        assert type(loaded) is type(model)
        assert loaded.params == model.params
        assert loaded.log_likelihood == model.log_likelihood
        assert loaded.n_customers == model.n_customers
        assert loaded.standard_errors == model.standard_errors
        pd.testing.assert_frame_equal(loaded.summary(), model.summary())


def test_loaded_model_predicts_like_the_original(betageo: BetaGeo) -> None:
    loaded = Model.from_json(betageo.to_json())
    assert isinstance(loaded, BetaGeo)
    np.testing.assert_array_equal(
        loaded.expected_purchases(10.0, [2, 0], [30.0, 0.0], [38.0, 38.0]),
        betageo.expected_purchases(10.0, [2, 0], [30.0, 0.0], [38.0, 38.0]),
    )


def test_loading_a_mismatch_raises_model_format_error(betageo: BetaGeo) -> None:
    document = json.loads(betageo.to_json())
    with pytest.raises(ModelFormatError, match="GammaGamma"):
        GammaGamma.from_json(betageo.to_json())
    with pytest.raises(ModelFormatError, match="version"):
        BetaGeo.from_json(json.dumps({**document, "version": 99}))
    with pytest.raises(ModelFormatError, match="type"):
        Model.from_json(json.dumps({**document, "type": "NoSuchModel"}))
    with pytest.raises(ModelFormatError, match="type"):
        Model.from_json(json.dumps({"params": {}}))
    with pytest.raises(ModelFormatError, match="JSON"):
        Model.from_json("not json")
    with pytest.raises(ModelFormatError, match="malformed"):
        Model.from_json(json.dumps({**document, "params": {"r": 1.0}}))


def test_unfitted_model_says_so() -> None:
    with pytest.raises(ConfigurationError, match="not fitted"):
        BetaGeo().params  # noqa: B018
    with pytest.raises(ConfigurationError, match="not fitted"):
        GammaGamma().to_json()
    with pytest.raises(ConfigurationError, match="penalizer"):
        BetaGeo(penalizer=-1.0)


def test_compress_counts_unique_rows_and_multiplies_weights() -> None:
    a = np.array([1.0, 1.0, 2.0, 1.0])
    b = np.array([5.0, 5.0, 5.0, 6.0])
    (ua, ub), counts = compress(a, b)
    rows = sorted(zip(ua.tolist(), ub.tolist(), counts.tolist(), strict=True))
    assert rows == [(1.0, 5.0, 2.0), (1.0, 6.0, 1.0), (2.0, 5.0, 1.0)]
    (wa, wb), weighted = compress(a, b, weights=np.array([0.5, 2.0, 1.0, 0.0]))
    rows = sorted(zip(wa.tolist(), wb.tolist(), weighted.tolist(), strict=True))
    assert rows == [(1.0, 5.0, 2.5), (2.0, 5.0, 1.0)]  # the zero-weight row is dropped
    (empty,), none = compress(np.empty(0))
    assert empty.size == 0 and none.size == 0


def test_penalizer_shrinks_the_parameters(cdnow: pd.DataFrame, betageo: BetaGeo) -> None:
    penalised = BetaGeo(penalizer=0.1).fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    plain = betageo.params
    assert sum(v**2 for v in penalised.params.values()) < sum(v**2 for v in plain.values())
    assert penalised.log_likelihood < betageo.log_likelihood
    assert Model.from_json(penalised.to_json()).penalizer == 0.1


def test_unidentifiable_data_raises_convergence_error_with_advice() -> None:
    # one customer with one purchase: the likelihood keeps rising as parameters run off
    with pytest.raises(ConvergenceError, match="penalizer"):
        GammaGamma().fit([1], [10.0])
