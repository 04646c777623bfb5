"""``python -m redsweep``: the same as the ``redsweep`` command."""

from redsweep.cli import main

main()
