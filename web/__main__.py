"""`python -m web ...` is `flowgrid ...` (for child processes that start the server by module)."""

from web.cli import main

main()
