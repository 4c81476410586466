"""devstack/web.py's page server over real HTTP: the routes, /config.js, the wasm type, and
nothing outside web/dist/assets (no listing, no traversal)."""
from __future__ import annotations

import http.client

import pytest

from devstack.stack import LOOPBACK, free_port
from devstack.web import serve_web

PAGES = ("index", "watch", "host", "analytics", "docs")


@pytest.fixture
def site(tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets" / "swagger").mkdir(parents=True)
    for page in PAGES:
        (dist / f"{page}.html").write_text(f"<!doctype html><title>{page}</title>")
    (dist / "assets" / "watch.js").write_text("export {};")
    (dist / "assets" / "amazon-ivs-wasmworker.min.wasm").write_bytes(b"\0asm\1\0\0\0")
    (dist / "assets" / "swagger" / "swagger-ui.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("outside dist")
    port = free_port()
    server = serve_web(port, "http://127.0.0.1:9999/", dist)
    yield port
    server.shutdown()
    server.server_close()


def get(port: int, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    connection.request(method, path)  # sent as written: no client-side normalisation of ../
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    return answer.status, answer.getheader("Content-Type") or "", body


@pytest.mark.parametrize("path, page", [
    ("/", "index"), ("/watch/ses_01abc-_Z", "watch"), ("/host", "host"), ("/host/ses_01abc", "host"),
    ("/host/ses_01abc/analytics", "analytics"), ("/host/ses_01abc/analytics/", "analytics"), ("/docs", "docs"),
])
def test_each_route_serves_its_page(site, path, page):
    status, kind, body = get(site, path)
    assert (status, kind, body) == (200, "text/html; charset=utf-8", f"<!doctype html><title>{page}</title>".encode())


def test_config_js_and_assets(site):
    assert get(site, "/config.js") == (
        200, "text/javascript; charset=utf-8", b'window.LIVEDROP_CONFIG = {"apiBase": "http://127.0.0.1:9999"};\n')
    assert get(site, "/assets/watch.js")[:2] == (200, "text/javascript; charset=utf-8")
    assert get(site, "/assets/amazon-ivs-wasmworker.min.wasm")[:2] == (200, "application/wasm")
    assert get(site, "/assets/swagger/swagger-ui.css")[:2] == (200, "text/css; charset=utf-8")
    assert get(site, "/docs", "HEAD")[:2] == (200, "text/html; charset=utf-8")


@pytest.mark.parametrize("path", [
    "/assets/", "/assets", "/assets/swagger/", "/index.html", "/watch", "/watch/", "/watch/a/b", "/watch/" + "x" * 65,
    "/host/ses_1/analytics/x", "/host/ses_1/analytic", "/host/a/b/analytics",
    "/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/assets/%2e%2e/watch.html",
    "/../secret.txt", "/assets/nope.js", "/nope", "/assets/watch.js%00.png",
])
def test_anything_else_is_404(site, path):
    assert get(site, path)[0] == 404
