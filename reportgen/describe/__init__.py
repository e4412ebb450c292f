"""What a loaded run says: metrics kernels, validity findings, paired comparisons, seed summaries and claims.

The description step (:mod:`description`) turns a loaded store into one typed :class:`model.Description`,
computed once and persisted under ``analysis/`` (:mod:`persist`); ``check``, ``render`` and ``export`` read it.
:mod:`facts` reads what a sentence may rest on, twice: as stored (metrics.json and the description — what the
report shows) and fresh from the stored predictions (the same kernels, recomputed). :mod:`claims` turns stored
facts into claims and verifies each claim's condition on the fresh facts; :mod:`gate` joins that with
:mod:`consistency`'s number checks before anything is shown. Torch-free.
"""
