"""Optional dependencies of the exporters, and the message that says which extra installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ReportgenError

# extra name → (module to import, what the user asked for)
EXTRAS = {
    "tensorboard": ("tensorboard", "--tensorboard"),
    "mlflow": ("mlflow", "--mlflow"),
}


class MissingExtraError(ReportgenError):
    """An exporter's optional dependency is not installed."""


def require(extra: str) -> ModuleType:
    """Import the package behind ``extra`` or raise a MissingExtraError naming the pip extra."""
    module, option = EXTRAS[extra]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{option} needs the optional package {module!r}, which is not installed ({exc})",
            key=option, expected=f"reportgen installed with the [{extra}] extra",
            fix=f"pip install 'reportgen[{extra}]'  (or: pip install {module})") from None
