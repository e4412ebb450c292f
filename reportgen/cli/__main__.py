"""`python -m reportgen.cli`: the same CLI as the `reportgen` command."""

from . import main

main()
