"""radsynth as a shared service: a FastAPI app over the library (``radsynth serve``).

* :mod:`radsynth.service.app`: :func:`create_app` (routes, access control, errors, request size limit).
* :mod:`radsynth.service.db`: SQLAlchemy models (API keys, jobs); SQLite in the data root, PostgreSQL by URL.
* :mod:`radsynth.service.keys`: API keys (only a sha256 of each token is stored), roles.
* :mod:`radsynth.service.jobs`: submission, the job runner (worker processes), restart recovery.
* :mod:`radsynth.service.kinds`: the job kinds (cohort build, sample, evaluate): validation, the library entry points.
* :mod:`radsynth.service.pages`: server-rendered gallery and reader-study pages (sign-in cookie).
* :mod:`radsynth.service.worker`: one job's worker process (the library's resumable cohort build).
* :mod:`radsynth.service.files`: output listing, path confinement, streamed zip archives.

Nothing here imports FastAPI at package import time; ``create_app`` lives in ``radsynth.service.app``.
"""
