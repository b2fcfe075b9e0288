"""Reader studies (visual Turing tests): can radiologists tell real images from synthetic ones?

:mod:`radsynth.study.reader`: case selection, blinded per-reader order, per-reader and pooled AUC
with confidence intervals, time per case, CSV export. Storage and pages: ``radsynth serve``.
"""
