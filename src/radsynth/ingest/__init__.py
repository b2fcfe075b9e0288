"""Ingest real DICOM/NIfTI/PNG/JPEG into a de-identified, signed training dataset (``radsynth ingest``)."""

from radsynth.ingest.ingest import IngestResult, ingest

__all__ = ["IngestResult", "ingest"]
