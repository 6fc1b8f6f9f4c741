"""datahygiene: make training datasets safe to train on."""

from typing import Any

__all__ = ["__version__"]

__version__: str  # bound by __getattr__ below on first use


def __getattr__(name: str) -> Any:
    """``__version__`` is read from the installed metadata on first use (importing the package stays cheap)."""
    if name != "__version__":
        raise AttributeError(f"module 'datahygiene' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("datahygiene")
    except PackageNotFoundError:  # running from a source tree without an install
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
