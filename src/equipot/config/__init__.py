"""Configuration models (pydantic): strict, with suggestions for misspelled keys."""

from .model import ModelConfig
from .strict import StrictModel

__all__ = ["ModelConfig", "StrictModel"]
