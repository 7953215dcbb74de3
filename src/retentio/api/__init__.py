"""retentio's REST API (FastAPI, under /api/v1)."""

from retentio.api.app import API_PREFIX, app_from_settings, create_app
from retentio.api.config import ApiConfig

__all__ = ["API_PREFIX", "ApiConfig", "app_from_settings", "create_app"]
