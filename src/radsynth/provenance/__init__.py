"""Provenance and governance: hash-chained audit trail, signed dataset manifests.

* :mod:`radsynth.provenance.config_dir`: the user config folder (keys, audit log).
* :mod:`radsynth.provenance.audit`: append-only, hash-chained audit log (SQLite by default).
* :mod:`radsynth.provenance.signing`: Ed25519 keys and signed SHA256SUMS of a dataset folder.
"""
