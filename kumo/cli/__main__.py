"""``python -m kumo.cli``: the ``kumo`` command (as :mod:`kumo.hosts` runs it when no
``kumo`` script is installed next to the interpreter)."""
import sys

from kumo.cli import main

sys.exit(main())
