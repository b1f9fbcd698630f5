"""Configuration: typed settings, logging setup and Celery settings. A leaf: imports nothing of ours."""

from config.settings import InvalidSettings, Settings, load_settings

__all__ = ["InvalidSettings", "Settings", "load_settings"]
