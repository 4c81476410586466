"""`python -m infra.publish_web` against moto's S3 and CloudFront (in process), and the template's
CloudFront Function run under node."""
import json
import shutil
import subprocess

import boto3
import pytest
from moto import mock_aws

from infra.publish_web import main
from infra.web import REWRITE_FUNCTION

BUCKET = "livedrop-test-web-123456789012"


@pytest.fixture
def aws(monkeypatch):
    """moto in process: the endpoints of the embedded stack, if a fixture set them, are not used."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDFRONT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield boto3.client("s3"), boto3.client("cloudfront")


@pytest.fixture
def dist(tmp_path):
    files = {"index.html": "<!doctype html><title>Livedrop</title>", "watch.html": "<p>watch</p>",
             "host.html": "<p>host</p>", "analytics.html": "<p>analytics</p>", "docs.html": "<p>docs</p>",
             "config.js": "window.LIVEDROP_CONFIG = {};",
             "assets/player-4f9a1c2e.js": "export {}", "assets/index-BWqP7Bvd.css": "body{}",
             "assets/decoder-9c1e22ab.wasm": "\0asm", "data/sizes.json": "{}", "logo.png": "png", "icon.svg": "<svg/>"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def head(s3, key):
    answer = s3.head_object(Bucket=BUCKET, Key=key)
    return answer["ContentType"], answer["CacheControl"]


def test_publish_uploads_with_types_and_caching_writes_config_and_deletes_stale_objects(aws, dist):
    s3, cloudfront = aws
    s3.put_object(Bucket=BUCKET, Key="assets/player-0ld0ld00.js", Body=b"old build")
    assert main(["--bucket", BUCKET, "--api-url", "https://abc.execute-api.us-east-1.amazonaws.com/api/",
                 "--dist", str(dist)]) == 0

    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {"index.html", "watch.html", "host.html", "analytics.html", "docs.html", "config.js",
                    "assets/player-4f9a1c2e.js", "assets/index-BWqP7Bvd.css", "assets/decoder-9c1e22ab.wasm", "data/sizes.json", "logo.png",
                    "icon.svg"}  # the old build's asset is gone
    assert head(s3, "index.html") == ("text/html; charset=utf-8", "no-cache")
    assert head(s3, "config.js") == ("text/javascript; charset=utf-8", "no-cache")
    assert head(s3, "assets/player-4f9a1c2e.js") == ("text/javascript; charset=utf-8", "no-cache")
    assert head(s3, "assets/index-BWqP7Bvd.css")[0] == "text/css; charset=utf-8"
    assert head(s3, "assets/decoder-9c1e22ab.wasm") == ("application/wasm", "no-cache")
    assert head(s3, "data/sizes.json") == ("application/json", "no-cache")
    assert head(s3, "logo.png")[0] == "image/png" and head(s3, "icon.svg")[0] == "image/svg+xml"
    config = s3.get_object(Bucket=BUCKET, Key="config.js")["Body"].read().decode()
    assert config == 'window.LIVEDROP_CONFIG = {"apiBase": "https://abc.execute-api.us-east-1.amazonaws.com/api"};\n'
    assert json.loads(config.removeprefix("window.LIVEDROP_CONFIG = ").removesuffix(";\n")) == {
        "apiBase": "https://abc.execute-api.us-east-1.amazonaws.com/api"}
    assert s3.get_object(Bucket=BUCKET, Key="watch.html")["Body"].read() == b"<p>watch</p>"


def test_publish_invalidates_the_distribution_when_given_one(aws, dist):
    s3, cloudfront = aws
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "test", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "web-bucket", "DomainName": f"{BUCKET}.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "web-bucket", "ViewerProtocolPolicy": "redirect-to-https"}},
    )["Distribution"]["Id"]
    main(["--bucket", BUCKET, "--api-url", "http://127.0.0.1:8000", "--dist", str(dist),
          "--distribution-id", distribution])
    invalidations = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Items"]
    assert len(invalidations) == 1
    batch = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidations[0]["Id"])
    assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


def test_publish_refuses_a_missing_dist_or_a_url_that_is_not_one(aws, tmp_path):
    with pytest.raises(SystemExit, match="build the web app first"):
        main(["--bucket", BUCKET, "--api-url", "https://api.example", "--dist", str(tmp_path / "missing")])
    with pytest.raises(SystemExit, match="not an http"):
        main(["--bucket", BUCKET, "--api-url", "api.example", "--dist", str(tmp_path)])


@pytest.mark.skipif(shutil.which("node") is None, reason="the CloudFront Function is run under node")
def test_the_cloudfront_function_maps_pretty_paths_to_pages(tmp_path):
    probe = tmp_path / "probe.js"
    uris = ["/watch/ses_123", "/watch/ses_123/", "/host/ses_9", "/host", "/host/", "/docs", "/docs/", "/",
            "/index.html", "/watch.html", "/assets/player-4f9a1c2e.js", "/watch/a/b", "/config.js", "/hostile",
            "/host/ses_9/analytics", "/host/ses_9/analytics/", "/host/ses_9/analytics/x", "/host/a/b/analytics"]
    probe.write_text(REWRITE_FUNCTION + "\nconsole.log(JSON.stringify(" + json.dumps(uris)
                     + ".map(function (uri) { return handler({request: {uri: uri}}).uri; })));\n")
    result = subprocess.run(["node", str(probe)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["/watch.html", "/watch.html", "/host.html", "/host.html", "/host.html",
                                         "/docs.html", "/docs.html", "/", "/index.html", "/watch.html",
                                         "/assets/player-4f9a1c2e.js", "/watch/a/b", "/config.js", "/hostile",
                                         "/analytics.html", "/analytics.html", "/host/ses_9/analytics/x",
                                         "/host/a/b/analytics"]


def test_make_publish_web_builds_then_publishes_with_the_settings_given():
    from devstack.stack import ROOT

    dry = subprocess.run(["make", "-n", "publish-web", "BUCKET=bkt",
                          "API_URL=https://api.example/api/", "DISTRIBUTION_ID=E123"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    build = lines.index("npm run --silent --prefix web build")
    publish = next(i for i, line in enumerate(lines) if "-m infra.publish_web" in line)
    assert build < publish
    assert lines[publish].endswith('--bucket "bkt" --api-url "https://api.example/api/" --distribution-id "E123"')
    usage = subprocess.run(["make", "-s", "publish-web"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert usage.returncode != 0 and "usage: make publish-web" in usage.stderr
