"""When a cell's test scores carry no decision or no ranking: one definition for the validity checks
(:mod:`checks`), the claims (:mod:`facts`) and the report's ‡ marks, so they can never disagree."""

COLLAPSE_SCORE_RANGE = 1e-3  # test scores spanning less than this are a constant output
DEGENERATE_SPREAD = 1e-6  # below this the scores carry no ranking at all
# Scores whose spread is below numeric resolution carry no ranking: AUC, ROC and thresholds are noise.
MIN_DISTINCT_SCORES = 3
