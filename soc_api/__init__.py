"""REST API and web UI, every route authenticated and scoped by the org tree."""
from soc_api.app import create_app
from soc_api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
