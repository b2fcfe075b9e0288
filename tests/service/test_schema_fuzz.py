"""schemathesis against the service's OpenAPI schema: generated requests never get a 5xx.

Every operation of ``app.openapi()`` gets a bounded number of generated cases (hypothesis
strategies from schemathesis), sent with an admin key and with no key.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from service_helpers import Service  # noqa: E402

EXAMPLES = 25
STATUSES: dict[str, set[int]] = {}


def _operations():
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp(prefix="radsynth-fuzz-"))
    atexit.register(shutil.rmtree, tmp, True)
    # no worker processes: a generated spec that happens to be valid is queued, not built
    svc = Service(tmp / "root", tmp / "audit.sqlite", start_runner=False, max_active_jobs_per_key=10_000)
    schema = schemathesis.openapi.from_dict(svc.app.openapi())
    schema.app = svc.app
    ops = [r.ok() for r in schema.get_all_operations()]
    return svc, ops


SVC, OPS = _operations()


def test_schema_covers_every_route():
    paths = {(op.method.upper(), op.path) for op in OPS}
    assert ("POST", "/api/jobs") in paths and ("GET", "/api/jobs/{job_id}/files/{file_path}") in paths
    assert len(paths) == 11  # health + 10 /api operations


@pytest.mark.parametrize("op", OPS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_no_server_errors(op):
    admin = SVC.h("admin")

    @given(case=op.as_strategy(), auth=st.booleans())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case, auth):
        response = case.call(headers=admin if auth else None)
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
        case.validate_response(response, checks=[not_a_server_error])
        STATUSES.setdefault(f"{op.method.upper()} {op.path}", set()).add(response.status_code)

    run()


def test_fuzzing_reached_past_the_key_check():
    """The generated cases were not all turned away at the door (401) or by validation (422)."""
    if len(STATUSES) < len(OPS):
        pytest.skip("run with the fuzz tests above")
    seen = set().union(*STATUSES.values())
    assert 401 in seen and 422 in seen
    assert any(200 <= s < 300 for s in STATUSES["GET /api/jobs"] | STATUSES["POST /api/keys"]), STATUSES
    assert any(s == 404 for s in STATUSES["GET /api/jobs/{job_id}"]), STATUSES
