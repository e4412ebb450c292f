"""`python -m bench` (what `make bench` runs)."""

from bench.bench import main

main()
