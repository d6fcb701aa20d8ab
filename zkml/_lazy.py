"""PEP 562 lazy exports: a package's public names, imported from their modules on first access.

Importing a package of zkml must stay cheap (``zkml --help`` is instant, and no
package pulls in torch, ezkl or web3 just by being imported), so each package's
``__init__`` maps its names to the modules that define them instead of importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``, whose name ``n`` lives in module ``exports[n]``.

    Use as ``__getattr__, __dir__, __all__ = lazy_exports(__name__, {...})``.
    """
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(set(import_module(package).__dict__) | set(table))

    return __getattr__, __dir__, sorted(table)
