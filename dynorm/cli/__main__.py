"""``python -m dynorm.cli ...``: the ``dynorm`` command."""

from dynorm.cli import main

main()
