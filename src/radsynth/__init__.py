"""radsynth: synthetic medical imaging you can trust.

Physics-based simulation from real anatomy and learned generators, with
provenance on every output.
"""

__version__ = "0.1.0"
