"""The version of spawn-tf, written here only: pyproject.toml reads it (hatch's dynamic version), the code imports it."""

__version__ = "0.1.0"
