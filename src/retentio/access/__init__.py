"""Who may use retentio: API keys and their scopes."""

from retentio.access.keys import (
    ApiKeyInfo,
    CreatedKey,
    Scope,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)

__all__ = [
    "ApiKeyInfo",
    "CreatedKey",
    "Scope",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
    "verify_api_key",
]
