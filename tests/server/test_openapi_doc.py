"""The OpenAPI document tells the truth: each route lists the error answers it gives, with
the body every error has, and the document's own examples are valid and accepted."""

from __future__ import annotations

import jsonschema
import pytest


@pytest.fixture
def doc(api) -> dict:
    return api.client.get("/openapi.json").json()


def test_each_route_lists_its_error_answers_with_the_error_body(doc):
    for path, operations in doc["paths"].items():
        mlflow = path.startswith("/api/2.0/mlflow")  # MLflow's error body, 400 for bad input
        error_ref = f"#/components/schemas/{'MlflowErrorBody' if mlflow else 'ErrorBody'}"
        for method, op in operations.items():
            answers = op["responses"]
            common = {"400", "401", "403", "404", "413", "503"} if mlflow else None
            common = common or {"401", "403", "413", "422", "503"}
            assert common <= answers.keys(), (method, path)
            assert not (mlflow and "422" in answers), (method, path)
            if "{" in path:
                assert "404" in answers, (method, path)
            if "requestBody" in op:
                assert "400" in answers, (method, path)
            for code, answer in answers.items():
                if code.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": error_ref}, (method, path, code)


def _examples(node, found: list) -> list[tuple[dict, object]]:
    """(schema, example) for every example in the document."""
    if isinstance(node, dict):
        for example in node.get("examples", []) if isinstance(node.get("examples"), list) else []:
            found.append((node, example))
        for value in node.values():
            _examples(value, found)
    elif isinstance(node, list):
        for value in node:
            _examples(value, found)
    return found


def test_every_example_in_the_document_matches_its_schema(doc):
    found = _examples(doc, [])
    assert len(found) >= 5
    for schema, example in found:
        root = {**{k: v for k, v in schema.items() if k != "examples"}, **doc}
        jsonschema.Draft202012Validator(root).validate(example)


def test_the_request_body_examples_are_accepted(api, doc):
    api.project("examples")  # id 1, as the examples say
    bodies = {
        path: op["requestBody"]["content"]["application/json"]["schema"]
        for path, ops in doc["paths"].items()
        for op in ops.values()
        if "requestBody" in op
    }
    schemas = doc["components"]["schemas"]
    run_examples = schemas["RunCreate"]["examples"]
    for body in run_examples:
        assert api.post("/runs", json=body).status_code == 201
    batch = bodies["/api/v1/runs/{run_id}/metrics"]["examples"][0]
    assert api.post("/runs/1/metrics", json=batch).status_code == 200
    spec = schemas["SweepCreate"]["properties"]["spec"]["examples"][0]
    r = api.post("/sweeps", json={"project_id": 1, "spec": spec})
    assert r.status_code == 201, r.text
    project = schemas["ProjectCreate"]["examples"][0]
    assert api.post("/projects", json=project).status_code == 201
