"""Configuration: schema and loading."""

from imagebot.config.load import DEFAULT_PATH, load, load_text
from imagebot.config.schema import Config, NamedPolicy, RegistrySettings

__all__ = ["Config", "NamedPolicy", "RegistrySettings", "DEFAULT_PATH", "load", "load_text"]
