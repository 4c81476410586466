"""Publish the built web app to its bucket (infra/web.py):

    python -m infra.publish_web --bucket <WebBucketName> --api-url <API URL> \
        [--distribution-id <WebDistributionId>] [--dist web/dist]

Every file under the dist directory is uploaded with its Content-Type and a Cache-Control that
fits it: `no-cache` for every file (always revalidated against its ETag, a 304 when unchanged):
the build's file names do not change from build to build, so nothing may be kept unasked, or a new
page could run with an old bundle.
`config.js` is written here, pointing the pages at the API (`--api-url`). Assets go up first and
pages last, so no page ever names an asset that is not there yet; objects the build no longer has
are then deleted, and, given a distribution id, CloudFront's cache is invalidated (`/*`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra.web import config_js, content_type

CONFIG_JS = "config.js"
NO_CACHE = "no-cache"


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
    pages_last = sorted(bodies, key=lambda key: (key.endswith(".html") or key == CONFIG_JS, key))
    for key in pages_last:
        body = bodies[key]
        data = body.read_bytes() if isinstance(body, Path) else body
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type(key),
                      CacheControl=NO_CACHE)
        log(f"uploaded {key} ({content_type(key)})")
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
