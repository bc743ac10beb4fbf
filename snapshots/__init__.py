"""Recorded real responses, shipped with the package so the offline demo runs from any folder.

`bundled/` holds one directory per observation date (see `bundled/README.md`); each is a
snapshot in the format of `connectors.snapshot`. It is package data: a wheel carries it and
`bundled_root()` finds it through `importlib.resources`, never through the checkout's layout.
`archives/` holds copies of public trackers' git archives (index.csv + versions.tar.xz) that
`gpu-prices backfill` reads offline; see `archives/README.md`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_root() -> Path:
    """The folder of the bundled snapshot (one sub-folder per snapshot date)."""
    return Path(str(resources.files(__name__).joinpath("bundled")))


def archives_root() -> Path:
    """The folder of the shipped git archives (one sub-folder per archive, named by source id)."""
    return Path(str(resources.files(__name__).joinpath("archives")))
