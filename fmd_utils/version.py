"""The package version, in its own module so that anything can import it without importing the package."""

__version__ = "0.3.0"
