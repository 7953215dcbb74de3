"""The public surface: each package's sorted ``__all__`` names exactly what it exports.

After httpx's ``test_exported_members.py``. The order is isort style (ruff's RUF022):
SCREAMING_SNAKE_CASE constants, then CamelCase classes, then everything else.
"""

from __future__ import annotations

import types

import pytest

import retentio
import retentio.access
import retentio.analytics
import retentio.campaigns
import retentio.channels
import retentio.clv
import retentio.core
import retentio.datasets
import retentio.feedback
import retentio.ingest
import retentio.loyalty
import retentio.models
import retentio.privacy
import retentio.segments
import retentio.store
import retentio.subscriptions

PACKAGES = [
    retentio,
    retentio.access,
    retentio.analytics,
    retentio.campaigns,
    retentio.channels,
    retentio.clv,
    retentio.core,
    retentio.datasets,
    retentio.feedback,
    retentio.ingest,
    retentio.loyalty,
    retentio.models,
    retentio.privacy,
    retentio.segments,
    retentio.subscriptions,
    retentio.store,
]


def isort_key(name: str) -> tuple[int, str]:
    if name.isupper() or (name.upper() == name and any(c.isalpha() for c in name)):
        kind = 0  # CONSTANT
    elif name[:1].isupper():
        kind = 1  # Class
    else:
        kind = 2  # function, __dunder__
    return kind, name


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_is_sorted(package: types.ModuleType) -> None:
    names = list(package.__all__)
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_exported_name_exists(package: types.ModuleType) -> None:
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_public_member_is_exported(package: types.ModuleType) -> None:
    """Nothing public is importable from the package without being in ``__all__``."""
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    exported = {name for name in package.__all__ if not name.startswith("_")}
    assert public == exported


def test_retentio_re_exports_the_analytics_api() -> None:
    re_exported = set(retentio.analytics.__all__)
    for name in re_exported:
        assert getattr(retentio, name) is getattr(retentio.analytics, name)
    assert set(retentio.__all__) == re_exported | {
        "RetentioError",
        "__version__",
    }
    assert retentio.RetentioError is retentio.core.RetentioError
    assert retentio.__version__ == "0.1.0"


def test_exported_names_are_defined_where_documented() -> None:
    """Every exported function and class has a docstring (the reference docs come from them)."""
    for package in PACKAGES:
        for name in package.__all__:
            value = getattr(package, name)
            if callable(value) and isinstance(value, type | types.FunctionType):
                assert value.__doc__, f"{package.__name__}.{name} has no docstring"
