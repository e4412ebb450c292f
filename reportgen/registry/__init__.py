"""The domain's nouns, each defined once: training strategies (:mod:`.strategies`) and test metrics
(:mod:`.metrics`).

Both modules import nothing but the standard library, so config parsing, the store, render and export read
them without torch or numpy. Every list of strategy or metric names elsewhere in the package is a view of
these registries; ``tests/unit/test_nouns_defined_once.py`` fails when a module spells such a list itself.
"""
