"""WSGI entry point: ``gunicorn geopin_gateway.wsgi:app``."""

from geopin.logs import configure_logging
from geopin.settings import Settings

from geopin_gateway.app import create_app

settings = Settings()
configure_logging(settings.log_level, settings.log_format)
app = create_app(settings)
