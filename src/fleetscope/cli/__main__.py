"""`python -m fleetscope.cli`, the same as the `fleetscope` command."""

from fleetscope.cli.main import main

main()
