"""WSGI entry point: ``gunicorn services.gateway.wsgi:app``."""

from services.gateway.app import create_app
from shared.logs import configure_logging
from shared.settings import Settings

settings = Settings()
configure_logging(settings.log_level, settings.log_format)
app = create_app(settings)
