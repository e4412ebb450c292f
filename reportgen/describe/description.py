"""The description step: a loaded run → one typed :class:`~reportgen.describe.model.Description`, computed once.

Order of the work, and why each part is computed exactly once:

1. the validity findings (:func:`reportgen.describe.checks.run_checks`);
2. every cell's facts as stored (:class:`reportgen.describe.facts.StoredFacts`: metrics.json plus the spread of
   the stored test scores), which also pick the cell best on validation and which cells may be picked;
3. the paired comparisons of those cells (:func:`reportgen.describe.facts.compare`), typed;
4. the mean ± sd over seeds, one row per resolved configuration (:mod:`reportgen.describe.seeds`);
5. the claims every generated sentence is worded from (:func:`reportgen.describe.claims.describe`), from the
   facts, comparisons and findings above.

``check``, ``render`` and ``export`` read the result through :func:`reportgen.describe.persist.ensure_description`
(stored under ``analysis/`` at the end of ``run``; recomputed here only when missing or stale). Torch-free.
"""

from __future__ import annotations

from ..store import RunResults
from .checks import run_checks
from .claims import describe
from .facts import StoredFacts, compare
from .model import Description
from .seeds import seed_summaries


def describe_run(run: RunResults, *, inputs: str = "") -> Description:
    """Everything said about ``run`` beyond its records. ``inputs``: the hash of what it is computed from
    (:func:`reportgen.describe.persist.inputs_hash`), carried so a stored copy can be told stale."""
    facts = StoredFacts(run, findings=run_checks(run))
    facts.with_rows(compare(run, facts))
    claims = describe(facts)
    return Description(inputs=inputs, comparisons=tuple(facts.rows()), seeds=tuple(seed_summaries(run)),
                       findings=tuple(facts.findings), claims=tuple(claims), cells=dict(facts.cells_))
