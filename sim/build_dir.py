"""The one build directory: Verilator builds and their caches, emitted Verilog, the demo, calibrations.

``pam --build-dir DIR`` or ``PAM_BUILD_DIR`` name it. Otherwise it is the
checkout's ``build/`` when the project runs from a source checkout (the
folder that holds ``pyproject.toml`` beside ``sim/``), and
``$XDG_CACHE_HOME/pam-model/build`` (``~/.cache/pam-model/build``) for an
installed copy, so that a run from any folder finds the same caches.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_VAR", "build_dir", "checkout_root"]

ENV_VAR = "PAM_BUILD_DIR"


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or None for an installed copy."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "sim" / "__init__.py").is_file() else None


def build_dir() -> Path:
    """The build directory, absolute (see the module text for the order it is chosen in)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    root = checkout_root()
    if root is not None:
        return root / "build"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "pam-model" / "build"
