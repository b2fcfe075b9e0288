"""radsynth evaluate: fidelity, detectability, utility, shortcut, fairness and memorisation of a synthetic set
against real data.

Input sets are loaded by :mod:`radsynth.evaluate.sets`; sections import what they need (nothing heavy here).
"""
