"""Cohort building: spec -> plan -> run (local process pool or Ray), resumable."""
