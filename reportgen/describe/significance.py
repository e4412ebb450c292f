"""When a paired difference counts as a difference: the one rule every comparing sentence uses.

Its own module so that the claim kinds kept outside :mod:`claims` (:mod:`premise`) apply the same rule
without importing :mod:`claims`, which imports them to register their classifiers. Torch-free.
"""

from __future__ import annotations

from .model import PairedTest

ALPHA = 0.05  # family-wise, after the Holm correction the report states
CORRECTION = "holm"
PAIR_METRIC = "macro_f1"  # the metric every comparing sentence (pairs, premises) is about


def significant(part: PairedTest | None) -> str:
    """``better`` / ``worse`` when the Holm-adjusted p < ALPHA and the CI excludes 0, else ``no_difference``."""
    if part is None:
        return "untested"
    ci, p, diff = part.ci, part.p_adjusted, part.diff
    if diff is None or p is None:
        return "untested"
    excludes = ci[0] is not None and ci[1] is not None and (ci[0] > 0 or ci[1] < 0)
    if excludes and p < ALPHA:
        return "better" if diff > 0 else "worse"
    return "no_difference"
