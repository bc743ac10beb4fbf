"""The one error the cost model raises for inputs it cannot estimate.

Every message says what is wrong *and* what would work (a cluster size, a larger GPU, a longer
deadline), because the CLI and the dashboard show it to the user as is, without a traceback.
"""

from __future__ import annotations


class EstimateError(ValueError):
    """Impossible or unsupported estimate inputs; the message is meant for the end user."""
