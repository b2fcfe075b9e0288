"""Deterministic random streams.

Every subject is a pure function of (spec, subject index): its generator is seeded
from ``SeedSequence(spec_seed, spawn_key=(subject_index, stream))``, so results do
not depend on worker count or execution order. Named sub-streams keep one
component's draws from shifting another's when a parameter changes.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream_id(name: str) -> int:
    """Stable 32-bit integer for a stream name (independent of PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def subject_rng(seed: int, subject_index: int, stream: str) -> np.random.Generator:
    """Generator for one subject and one named component stream."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(subject_index), stream_id(stream)))
    return np.random.default_rng(ss)


def subject_seed(seed: int, subject_index: int) -> int:
    """A 63-bit integer seed for one subject, recorded in provenance and the manifest."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(subject_index),))
    return int(ss.generate_state(2, dtype=np.uint32).astype(np.uint64) @ np.array([1, 2**32], dtype=np.uint64)) & (2**63 - 1)


def child_rng(rng_seed: int, stream: str) -> np.random.Generator:
    """Generator for a named stream under an explicit integer seed."""
    ss = np.random.SeedSequence(entropy=int(rng_seed), spawn_key=(stream_id(stream),))
    return np.random.default_rng(ss)


def child_seed(rng_seed: int, stream: str) -> int:
    """A 63-bit integer seed derived from ``rng_seed`` for a named purpose (e.g. a redraw)."""
    ss = np.random.SeedSequence(entropy=int(rng_seed), spawn_key=(stream_id(stream),))
    return int(ss.generate_state(2, dtype=np.uint32).astype(np.uint64) @ np.array([1, 2**32], dtype=np.uint64)) & (2**63 - 1)
