"""imagehub: a self-hosted image service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imagehub")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
