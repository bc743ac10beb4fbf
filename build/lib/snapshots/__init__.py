"""Recorded real responses, shipped with the package so the offline demo runs from any folder.

`bundled/` holds one directory per observation date (see `bundled/README.md`); each is a
snapshot in the format of `connectors.snapshot`. It is package data: a wheel carries it and
`bundled_root()` finds it through `importlib.resources`, never through the checkout's layout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_root() -> Path:
    """The folder of the bundled snapshot (one sub-folder per snapshot date)."""
    return Path(str(resources.files(__name__).joinpath("bundled")))
