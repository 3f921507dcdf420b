"""fleetscope: fleet performance monitoring."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetscope")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
