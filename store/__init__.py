"""The store: schema, tenancy, encryption, audit and the services everything above builds on.

Nothing here knows about HTTP or language models (import-linter enforces it).
"""
