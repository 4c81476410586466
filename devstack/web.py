"""The browser pages under `make run`: build web/ with npm, and serve web/dist on their own origin.

`build_web()` runs `npm ci` (only when web/node_modules is missing or older than the lockfile) and
`npm run build`; `serve_web()` serves the result from a daemon thread on 127.0.0.1:

    /                  index.html (the live sessions)
    /watch/<id>        watch.html (the viewer)
    /host, /host/<id>  host.html (the host console)
    /docs              docs.html (the API reference)
    /config.js         window.LIVEDROP_CONFIG = {"apiBase": <the API's base URL>}
    /assets/<file>     the bundles, the stylesheet, the IVS player's worker (.wasm as application/wasm)

Anything else is 404: no directory listing, no path outside web/dist/assets.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from devstack.stack import LOOPBACK, ROOT
from infra.web import PAGE_ROUTES, config_js, content_type

WEB = ROOT / "web"
# The same routes as the deployed pages' CloudFront Function (infra/web.py), and `/`.
PAGES = {re.compile(r"^/$"): "index.html", **{re.compile(pattern): page for pattern, page in PAGE_ROUTES}}


class WebBuildError(RuntimeError):
    pass


def build_web(web: Path = WEB) -> Path:
    """`npm ci` if needed, then `npm run build` in web/; returns web/dist. Raises WebBuildError."""
    npm = shutil.which("npm")
    if npm is None:
        raise WebBuildError("npm is not installed: the web pages (web/) need Node.js 20 with npm to build. "
                            "Install Node.js (e.g. apt-get install nodejs npm) and run `make run` again.")
    lockfile = web / "package-lock.json"
    installed = web / "node_modules" / ".package-lock.json"  # npm rewrites it on every install
    if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
        _npm(npm, web, "ci", "--no-audit", "--no-fund")
    _npm(npm, web, "run", "build")
    dist = web / "dist"
    if not (dist / "watch.html").exists():
        raise WebBuildError(f"`npm run build` finished but {dist / 'watch.html'} is missing")
    return dist


def _npm(npm: str, web: Path, *args: str) -> None:
    finished = subprocess.run([npm, *args], cwd=web, capture_output=True, text=True)
    if finished.returncode != 0:
        output = (finished.stdout + finished.stderr).strip()[-4000:]
        raise WebBuildError(f"`npm {' '.join(args)}` in {web} failed (exit code {finished.returncode}):\n{output}")


def resolve(dist: Path, path: str) -> Path | None:
    """The file a request path names, or None (404). Only pages and files under assets/."""
    for pattern, page in PAGES.items():
        if pattern.fullmatch(path):
            return dist / page
    if not path.startswith("/assets/"):
        return None
    assets = (dist / "assets").resolve()
    candidate = (dist / path.lstrip("/")).resolve()
    if not candidate.is_relative_to(assets) or not candidate.is_file():
        return None
    return candidate


def serve_web(port: int, api_base: str, dist: Path) -> ThreadingHTTPServer:
    """Serve `dist` on 127.0.0.1:<port> from a daemon thread; `.shutdown()` stops it."""
    config = config_js(api_base).encode()
    root = Path(dist)

    class Pages(BaseHTTPRequestHandler):
        server_version = "livedrop-web"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == "/config.js":
                return self._send(HTTPStatus.OK, config, content_type("config.js"), "no-store", head)
            file = resolve(root, path) if "\x00" not in path else None
            if file is None or not file.is_file():
                return self._send(HTTPStatus.NOT_FOUND, b"Not found\n", content_type("404.txt"), "no-store", head)
            kind = content_type(file.name)
            cache = "no-cache" if file.suffix == ".html" else "public, max-age=60"
            self._send(HTTPStatus.OK, file.read_bytes(), kind, cache, head)

        def _send(self, status: HTTPStatus, body: bytes, kind: str, cache: str, head: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # quiet: the API's log is the one to read
            pass

    server = ThreadingHTTPServer((LOOPBACK, port), Pages)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="web-pages", daemon=True).start()
    return server
