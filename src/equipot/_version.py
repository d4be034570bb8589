"""The equipot version, in one place (the package root and model files both read it)."""

__version__ = "0.1.0"
