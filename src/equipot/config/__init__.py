"""Configuration models (pydantic): strict, with suggestions for misspelled keys."""

from .heads import HeadConfig
from .model import DensityEmbeddingConfig, ModelConfig
from .strict import StrictModel
from .train import ConfigError, TrainConfig, default_config_yaml, load_train_config

__all__ = ["ConfigError", "DensityEmbeddingConfig", "HeadConfig", "ModelConfig", "StrictModel", "TrainConfig", "default_config_yaml", "load_train_config"]
