"""The gate before anything is shown: stored numbers against their recomputation, claims against the predictions.

``render`` (before it writes anything) and ``reportgen check`` run it on a loaded run and its
:class:`~reportgen.describe.model.Description`. Numbers are :mod:`consistency`'s, claims :mod:`claims`'; this
module only joins them, so neither of those imports the other. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConsistencyError
from ..store import RunResults
from .claims import Failure, verify
from .claims_shown import task_claims
from .consistency import Mismatch, check_run
from .model import Claim, Description


def check_claims(run: RunResults, claims: Sequence[Claim]) -> list[Failure]:
    """Every claim's condition re-derived from the stored predictions (reportgen.describe.claims.verify)."""
    return verify(run, list(claims)) if claims else []


def all_claims(run: RunResults, description: Description) -> list[Claim]:
    """The description's claims and the task statuses made from the report configuration in effect (not stored:
    report-only keys may change after the run)."""
    return list(description.claims) + task_claims(run)


def disagreements(run: RunResults, description: Description) -> tuple[list[Mismatch], list[Failure]]:
    """(stored numbers that differ from their recomputation, claims the stored predictions no longer meet)."""
    return check_run(run, description.comparisons), check_claims(run, all_claims(run, description))


def gate(run: RunResults, description: Description) -> None:
    """Raise ConsistencyError (exit 2) naming the first disagreements — stored numbers that differ from their
    recomputation, and claims whose condition the stored predictions no longer meet; silent when all agree."""
    bad, false = disagreements(run, description)
    if bad or false:
        lines = [str(m) for m in bad[:5]] + [str(f) for f in false[:5]]
        more = len(bad) + len(false) - len(lines)
        shown = "\n  ".join(lines) + (f"\n  … and {more} more" if more > 0 else "")
        what = []
        if bad:
            what.append(f"{len(bad)} stored number{'s' if len(bad) != 1 else ''} disagree"
                        f"{'s' if len(bad) == 1 else ''} with the stored predictions")
        if false:
            what.append(f"{len(false)} claim{'s' if len(false) != 1 else ''} of the report no longer "
                        f"hold{'s' if len(false) == 1 else ''} on them")
        first = bad[0].cell_id if bad else (false[0].claim.cells[0] if false[0].claim.cells else "")
        raise ConsistencyError(f"{'; '.join(what)}:\n  {shown}",
                               file=run.path / "cells" / first if first else run.path / "analysis",
                               fix="a file in the store was edited or is from another reportgen version: delete "
                                   "that cell folder and rerun `reportgen run` (finished cells are kept)")
