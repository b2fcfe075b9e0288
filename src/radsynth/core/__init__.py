"""Core records, errors, label taxonomy and deterministic random streams."""
