"""Invoke entry point: the namespace lives in the package (shipyard.tasks.for_command_line)."""

import sys

from shipyard.tasks import for_command_line

ns = for_command_line(sys.argv)  # only the tasks this command line names
