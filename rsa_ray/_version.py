"""The package version, read by ``rsa-ray --version``."""

__version__ = "0.1.0"
