"""Every 201 proves (issue 21, item 4): the service normalises an input with the CLI's function and stores ezkl's form.

Property tests (hypothesis) over the input forms the schema documents: each one
the API accepts (201) is stored as ``{"input_data": [[8 floats]]}`` and witnessed
by real ezkl ``gen_witness`` on the tuned mlp circuit, from exactly the stored
text; each malformed variant gets a 422 problem+json and stores nothing. The
API here is an API-only service (no workers) behind FastAPI's TestClient; the
issue's two inputs go through a live server with a real prover.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve.conftest import LiveServer, make_service

MODEL = "mlp_regressor"
WIDTH = 8  # mlp_regressor's one input is (1, 8)
ISSUE_BARE = [0.1, -0.3, 0.2, 0.05, -0.1, 0.4, 0.0, -0.2]


class Api:
    """An API-only service over the served mlp, a prove token, and the calibrated range inputs must sit in."""

    def __init__(self, served: Any, folder: Path) -> None:
        from fastapi.testclient import TestClient

        from zkml.serve.app import create_app
        from zkml.serve.tokens import create_token

        self.served = served
        self.service = make_service(served, folder, run_workers=False, max_queue=100_000).start()
        _, secret = create_token(self.service.store, "inputs", frozenset({"prove"}))
        self.client = TestClient(create_app(self.service), headers={"Authorization": f"Bearer {secret}"})
        ((lows, highs),) = served.spec.input_ranges
        self.lows, self.highs = list(lows), list(highs)
        self.witnesses = folder / "witnesses"
        self.witnesses.mkdir()

    def post(self, payload: object) -> Any:
        # json.dumps writes NaN/Infinity literals, as a careless client would; the API must still answer 422.
        body = json.dumps({"model": MODEL, "input": payload})
        return self.client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})

    def job_count(self) -> int:
        return sum(self.service.store.counts().values())


@pytest.fixture(scope="module")
def api(served: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    pytest.importorskip("fastapi")
    api = Api(served, tmp_path_factory.mktemp("serve-inputs"))
    try:
        yield api
    finally:
        api.client.close()
        api.service.stop()


def _as_prove_many_reads_it(api: Api, payload: object) -> tuple[dict[str, Any] | None, str | None]:
    """What ``zkml prove-many`` makes of this input as a file: (ezkl's form, None) or (None, its message, path as ``input``)."""
    import uuid

    from zkml.data import input_payload
    from zkml.errors import InputDataError

    path = api.witnesses / f"cli-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(payload))
    try:
        return input_payload(api.served.checker.check_input(path)), None  # the check prove-many runs on each input file
    except InputDataError as exc:
        return None, str(exc).replace(str(path), "input")
    finally:
        path.unlink()


def _witness(api: Api, stored: str, name: str) -> Any:
    """Real ezkl gen_witness on the stored input text, as a worker would run it."""
    from zkml.circuit import generate_witness

    path = api.witnesses / f"{name}.input.json"
    path.write_text(stored)
    return generate_witness(api.served.spec.circuit, path, api.witnesses / f"{name}.witness.json")


# -- what the schema allows: one sample of 8 numbers inside the calibrated range, in every documented form

# Fractions of the calibrated span: its ends, its middle, and values near the low end at several magnitudes.
FRACTIONS = st.one_of(
    st.sampled_from([0.0, 1.0, 0.5]),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.sampled_from([1e-9, 1e-6, 1e-3]),
)


def _values(api: Api, fractions: list[float], integers: bool) -> list[float | int]:
    values: list[float | int] = [lo + f * (hi - lo) for f, lo, hi in zip(fractions, api.lows, api.highs, strict=True)]
    if integers:  # JSON integers are numbers too (0 rather than 0.0) wherever one lies in the range
        values = [round(v) if api.lows[i] <= round(v) <= api.highs[i] else v for i, v in enumerate(values)]
    return values


def _nest(values: object, levels: int) -> object:
    for _ in range(levels):
        values = [values]
    return values


@st.composite
def allowed_inputs(draw: st.DrawFn) -> tuple[list[float], Any]:
    """(fractions of the range, then the form) -- the values are made from the api's range inside the test."""
    fractions = draw(st.lists(FRACTIONS, min_size=WIDTH, max_size=WIDTH))
    wrapped = draw(st.booleans())
    # Bare or inside ezkl's input_data: a flat list, one row, the (1, 8) tensor, or that tensor
    # inside one more list (each sample with its own batch axis of 1).
    levels = draw(st.integers(min_value=0, max_value=3))
    return fractions, (wrapped, levels, draw(st.booleans()))


def _accepted_stored_normalised_and_witnessed(api: Api, case: tuple[list[float], Any]) -> None:
    fractions, (wrapped, levels, integers) = case
    values = _values(api, fractions, integers)
    nested = _nest(values, levels)
    payload = {"input_data": nested} if wrapped else nested
    response = api.post(payload)
    assert response.status_code == 201, (payload, response.text)
    stored = api.service.store.get(response.json()["id"])
    assert stored is not None
    # Stored in the one form ezkl takes, whatever form came in.
    assert json.loads(stored.input_json) == {"input_data": [[float(v) for v in values]]}
    # zkml prove-many accepts it too, in the same form.
    assert _as_prove_many_reads_it(api, payload) == (json.loads(stored.input_json), None)
    witness = _witness(api, stored.input_json, stored.id)
    assert len(witness.outputs) == 1 and math.isfinite(witness.outputs[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=allowed_inputs())
def test_every_allowed_form_is_accepted_stored_normalised_and_witnessed(api: Api, case: tuple[list[float], Any]) -> None:
    _accepted_stored_normalised_and_witnessed(api, case)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=allowed_inputs())
def test_many_more_allowed_forms_are_witnessed(api: Api, case: tuple[list[float], Any]) -> None:
    _accepted_stored_normalised_and_witnessed(api, case)


# -- malformed variants: each one 422 problem+json, and no job stored


def _malformed(values: list[float]) -> dict[str, object]:
    """Named malformed inputs built from an allowed sample."""
    return {
        "too-few": {"input_data": [values[:-1]]},
        "too-many": {"input_data": [[*values, values[0]]]},
        "not-whole-samples": values + values[:3],
        "two-samples": [values, values],  # rows are samples: this circuit proves one at a time
        "rows-of-4": {"input_data": [values[:4], values[4:]]},
        "too-deep": {"input_data": _nest(values, 4)},
        "too-deep-bare": _nest(values, 5),
        "inside-out": {"input_data": [[[v] for v in values]]},
        "ragged": {"input_data": [[values[:3], values[3:]]]},
        "nan": [math.nan, *values[1:]],
        "inf": {"input_data": [[*values[:-1], -math.inf]]},
        "string": [str(values[0]), *values[1:]],
        "bool": [True, *values[1:]],
        "null": [None, *values[1:]],
        "object": {"input_data": [[{"x": 1}, *values[1:]]]},
        "empty": [],
        "empty-input-data": {"input_data": []},
        "unknown-key": {"input_data": [values], "inputs": [values]},
        "a-number": values[0],
        "a-string": "0.1, 0.2",
        "out-of-range": [v + 1e6 for v in values],
    }


def _refused_before_a_job_is_stored(api: Api, fractions: list[float], kind: str) -> None:
    payload = _malformed([float(v) for v in _values(api, fractions, False)])[kind]
    before = api.job_count()
    response = api.post(payload)
    assert response.status_code == 422, (kind, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["kind"] == "invalid_input" and body["detail"] and "\n" not in body["detail"]
    assert api.job_count() == before
    # zkml prove-many refuses it too, with the same words.
    assert _as_prove_many_reads_it(api, payload) == (None, body["detail"])


SPANS = st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=WIDTH, max_size=WIDTH)
KINDS = st.sampled_from(sorted(_malformed([0.0] * WIDTH)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fractions=SPANS, kind=KINDS)
def test_every_malformed_form_is_refused_with_422_before_a_job_is_stored(api: Api, fractions: list[float], kind: str) -> None:
    _refused_before_a_job_is_stored(api, fractions, kind)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fractions=SPANS, kind=KINDS)
def test_many_more_malformed_forms_are_refused(api: Api, fractions: list[float], kind: str) -> None:
    _refused_before_a_job_is_stored(api, fractions, kind)


def test_refusals_name_what_was_given_and_what_is_wanted(api: Api) -> None:
    values = [(lo + hi) / 2 for lo, hi in zip(api.lows, api.highs, strict=True)]
    cases = {
        "too-deep": ("nested 4 lists deep", "at most 3 levels"),
        "too-few": ("has 7 values", "one sample's 8 (shape [1, 8])"),
        "rows-of-4": ("nested as [2, 4]", "one sample is [8]"),
        "two-samples": ("holds 2 samples", "batches of 1"),
        "nan": ("NaN or inf at flat index 0",),
        "string": ("holds a str",),
    }
    malformed = _malformed(values)
    for kind, phrases in cases.items():
        detail = api.post(malformed[kind]).json()["detail"]
        assert all(phrase in detail for phrase in phrases), (kind, detail)
        assert detail.startswith("input")


# -- the issue's two inputs, through a live server that proves


@pytest.mark.parametrize(
    "payload",
    [ISSUE_BARE, {"input_data": [[ISSUE_BARE]]}],
    ids=["bare-list", "input-data-nested-one-level-deeper"],
)
def test_the_issues_inputs_are_proved(live: LiveServer, tokens: dict[str, str], payload: Any) -> None:
    # Both got 201 and then failed in gen_witness before; both lie inside the calibrated range, so both must prove.
    client = live.client(tokens["prove"])
    response = client.post("/v1/jobs", json={"model": MODEL, "input": payload})
    assert response.status_code == 201, response.text
    job = client.get(f"/v1/jobs/{response.json()['id']}", params={"wait": 60}).json()
    assert job["state"] == "done", job
    assert job["verified"] is True and len(job["outputs"]) == 1 and job["error"] is None
    stored = live.service.store.get(job["id"])
    assert stored is not None and json.loads(stored.input_json) == {"input_data": [ISSUE_BARE]}


@pytest.mark.parametrize("recursion_limit", [1_000, 100_000])
def test_absurdly_deep_json_is_refused_as_a_problem_not_a_crash(api: Api, recursion_limit: int) -> None:
    # 99,000 levels: under the 1 MiB body limit, and deep enough to overflow the C stack of a JSON parser
    # allowed to recurse that far (py_ecc, imported by anything, sets the limit to 100,000). Refused unparsed.
    import sys

    depth = 99_000
    body = '{"model": "mlp_regressor", "input": ' + "[" * depth + "0.1" + "]" * depth + "}"
    before = api.job_count()
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(recursion_limit)
    try:
        response = api.client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    finally:
        sys.setrecursionlimit(old)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "deeper than 64 levels" in response.json()["detail"]
    assert api.job_count() == before
    # 40 levels parse, and are refused by the normaliser naming the depth.
    shallow = '{"model": "mlp_regressor", "input": ' + "[" * 40 + "0.1" + "]" * 40 + "}"
    response = api.client.post("/v1/jobs", content=shallow, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "nested 39 lists deep" in response.json()["detail"], response.text
    assert api.job_count() == before
