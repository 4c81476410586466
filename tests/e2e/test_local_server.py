"""`chalice local` (what `make run` serves) answers what it cannot route in problem+json, as the
API does for everything else: an unknown method is a 405 naming the path's methods, an unknown
path a 404; the routes the app declares answer as before."""
import pytest
import requests

from app import app

PROBLEMS = "https://livedrop.dev/problems/"
KNOWN = "/v1/sessions"


def problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEMS + code and body["status"] == status and body["title"] and body["detail"]
    return body


def allowed(path):
    return {method.strip() for method in path.split(",")}


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW", "DELETE"])
def test_a_method_the_path_lacks_is_405_with_allow(base_url, method):
    response = requests.request(method, base_url + KNOWN)
    body = problem(response, 405, "method_not_allowed")
    assert body["title"] == "Method not allowed" and method in body["detail"]
    assert allowed(response.headers["Allow"]) == set(app.routes[KNOWN]) and method not in response.headers["Allow"]


@pytest.mark.parametrize("method", ["GET", "POST", "TRACE", "PROPFIND", "BREW", "OPTIONS"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer whatever"}])
def test_an_unknown_path_is_404(base_url, method, headers):
    response = requests.request(method, base_url + "/v1/nothing-here?x=1", headers=headers)
    body = problem(response, 404, "not_found")
    assert body["title"] == "Not found" and "/v1/nothing-here" in body["detail"]
    assert "Allow" not in response.headers


def test_known_routes_answer_as_before(base_url):
    document = requests.get(base_url + "/v1/openapi.json")
    assert document.status_code == 200 and document.headers["Content-Type"] == "application/json"
    assert document.json()["openapi"] == "3.1.0"
    missing = requests.get(base_url + "/v1/sessions/ses_00000000000000000000ff")
    problem(missing, 404, "not_found")


def test_options_on_a_known_path_still_reaches_chalice(base_url):
    """Preflight stays Chalice's (or the route's own OPTIONS handler): no 404/405 problem."""
    response = requests.options(base_url + KNOWN)
    assert 200 <= response.status_code < 300, response.text
    assert "Access-Control-Allow-Methods" in response.headers


def test_head_answers_headers_only_and_the_connection_survives(base_url):
    """A HEAD answer has no body (RFC 9110): one written after its headers would be read as the
    start of the next answer on the same keep-alive connection."""
    with requests.Session() as http:
        head = http.head(base_url + KNOWN)
        assert head.status_code == 405 and head.headers["Content-Type"] == "application/problem+json"
        assert int(head.headers["Content-Length"]) > 0 and head.content == b""
        problem(http.request("TRACE", base_url + KNOWN), 405, "method_not_allowed")
        assert http.get(base_url + "/v1/openapi.json").status_code == 200
