"""The description of a loaded run: typed claims that every generated sentence is worded from.

:mod:`facts` reads what a sentence may rest on, twice: as stored (metrics.json, comparisons.json — what
the report shows) and fresh from the stored predictions (the same kernels, recomputed). :mod:`claims`
turns stored facts into claims and verifies each claim's condition on the fresh facts. Torch-free.
"""
