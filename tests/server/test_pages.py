"""Dashboard pages: a page of something the caller cannot see is the 404 page naming it."""

import pytest


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/projects/4242", "project"),
        ("/projects/4242/submit", "project"),
        ("/projects/4242/sweeps", "project"),
        ("/projects/4242/overview", "project"),
        ("/runs/4242", "run"),
        ("/sweeps/4242", "sweep"),
        ("/sweeps/4242/report", "sweep"),
    ],
)
def test_a_page_of_a_missing_object_is_the_404_page(api, path, what):
    api.client.cookies.set("lionlab_token", api.token)  # pages sign in by cookie
    r = api.client.get(path, follow_redirects=False)
    assert r.status_code == 404 and f"This {what} does not exist" in r.text


def test_a_project_page_names_its_project(api):
    project = api.project("alpha")["id"]
    api.client.cookies.set("lionlab_token", api.token)
    for path in (
        f"/projects/{project}",
        f"/projects/{project}/submit",
        f"/projects/{project}/overview",
    ):
        r = api.client.get(path, follow_redirects=False)
        assert r.status_code == 200 and "alpha" in r.text
