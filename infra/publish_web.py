"""Publish the built web app to its bucket (infra/web.py):

    python -m infra.publish_web --bucket <WebBucketName> --api-url <API URL> \
        [--distribution-id <WebDistributionId>] [--dist web/dist]

Every file under the dist directory is uploaded with its Content-Type and a Cache-Control that
fits it: pages and config.js `no-cache` (always revalidated, so a publish shows at once), hashed
assets a year and `immutable` (a new build gives them new names), anything else five minutes.
`config.js` is written here, pointing the pages at the API (`--api-url`). Assets go up first and
pages last, so no page ever names an asset that is not there yet; objects the build no longer has
are then deleted, and, given a distribution id, CloudFront's cache is invalidated (`/*`).
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONFIG_JS = "config.js"
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
# A bundler's content hash before the extension (`host-4f9a1c2e.js`, `index.BWqP7Bvd.css`): eight or
# more letters and digits with at least one digit or capital, which plain names (`console`) lack.
HASHED = re.compile(r"[.-](?=[A-Za-z0-9_]*[0-9A-Z])[A-Za-z0-9_]{8,}\.[A-Za-z0-9]+$")


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if name.endswith(".html") or key == CONFIG_JS:
        return NO_CACHE
    return IMMUTABLE if HASHED.search(name) else SHORT


def config_js(api_url: str) -> str:
    """What the pages read to find the API (a trailing slash is dropped: pages append /v1/...)."""
    return "window.LIVEDROP_CONFIG = " + json.dumps({"apiBase": api_url.rstrip("/")}) + ";"


def _files(dist: Path) -> dict[str, Path]:
    if not dist.is_dir():
        raise SystemExit(f"{dist} is not a directory: build the web app first")
    return {path.relative_to(dist).as_posix(): path for path in sorted(dist.rglob("*")) if path.is_file()}


def _existing_keys(s3: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def publish(dist: Path, bucket: str, api_url: str, distribution_id: str | None = None,
            s3: Any = None, cloudfront: Any = None, log=print) -> dict[str, list[str]]:
    """Upload, prune and invalidate; what was uploaded and deleted, by key."""
    import boto3

    scheme_and_host = urlsplit(api_url)
    if scheme_and_host.scheme not in ("http", "https") or not scheme_and_host.netloc:
        raise SystemExit(f"--api-url {api_url!r} is not an http(s) URL")
    s3 = s3 or boto3.client("s3")
    files = _files(dist)
    bodies: dict[str, bytes | Path] = {key: path for key, path in files.items()}
    bodies[CONFIG_JS] = config_js(api_url).encode()
    pages_last = sorted(bodies, key=lambda key: (cache_control(key) == NO_CACHE, key))
    for key in pages_last:
        body = bodies[key]
        data = body.read_bytes() if isinstance(body, Path) else body
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type(key),
                      CacheControl=cache_control(key))
        log(f"uploaded {key} ({content_type(key)}; {cache_control(key)})")
    stale = sorted(_existing_keys(s3, bucket) - set(bodies))
    for start in range(0, len(stale), 1000):  # DeleteObjects takes at most 1,000 keys
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in stale[start:start + 1000]],
                                                 "Quiet": True})
    for key in stale:
        log(f"deleted {key}")
    if distribution_id:
        cloudfront = cloudfront or boto3.client("cloudfront")
        cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"livedrop-publish-{time.time_ns()}"})
        log(f"invalidated /* on {distribution_id}")
    return {"uploaded": pages_last, "deleted": stale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.publish_web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", required=True, help="the stack's WebBucketName output")
    parser.add_argument("--api-url", required=True, help="the API's base URL, written into config.js")
    parser.add_argument("--distribution-id", help="the stack's WebDistributionId output: invalidate /* after")
    parser.add_argument("--dist", type=Path, default=Path("web/dist"), help="the built app (default: web/dist)")
    args = parser.parse_args(argv)
    result = publish(args.dist, args.bucket, args.api_url, args.distribution_id)
    print(f"published {len(result['uploaded'])} files to s3://{args.bucket}, deleted {len(result['deleted'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
