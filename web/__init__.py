"""The web layer: FastAPI app, routes, pages and the `flowgrid` command line."""
