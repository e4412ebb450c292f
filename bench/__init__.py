"""The benchmarks (not part of the installed package): `make bench` runs `python -m bench`."""
