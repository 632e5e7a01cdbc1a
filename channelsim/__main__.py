"""``python -m channelsim``: the command line (see :mod:`channelsim.cli`)."""

from channelsim.cli import main

main()
