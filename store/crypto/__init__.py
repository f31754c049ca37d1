"""Envelope encryption: a KEK per workspace in a key provider, data keys wrapped by it in the
database, subject keys per contact wrapped by the data key, AES-256-GCM on every sealed field,
and blind indexes so sealed fields can still be searched."""
