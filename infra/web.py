"""Static hosting of the web app (web/dist): a private S3 bucket behind a CloudFront distribution.

The bucket blocks every public access and is read only by the distribution, through Origin Access
Control (SigV4-signed requests, the bucket policy naming the distribution). A CloudFront Function
maps the app's pretty paths to its pages on every viewer request. `python -m infra.publish_web`
uploads a build; infra/tables.py puts these resources into the one generated template.
"""
from __future__ import annotations

import json
import mimetypes
from typing import Any

from infra.buckets import private_bucket

# The app's pages, for every server of it (CloudFront here, devstack/web.py under `make run`): a
# show's page and the host console take an id in the path. Written so the same pattern is a Python
# and a JavaScript regular expression; `/` is index.html (CloudFront's default root object). The
# first match wins: a show's analytics come before the console (whose pattern would not take them).
SESSION_ID = r"[A-Za-z0-9_-]{1,64}"  # a path id the API can take
PAGE_ROUTES: tuple[tuple[str, str], ...] = (
    (rf"^/watch/{SESSION_ID}/?$", "watch.html"),
    (rf"^/host/{SESSION_ID}/analytics/?$", "analytics.html"),
    (rf"^/host(/{SESSION_ID})?/?$", "host.html"),
    (r"^/docs/?$", "docs.html"),
)
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


def content_type(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def config_js(api_url: str) -> str:
    """The pages' one setting, `/config.js`: where the API is (a trailing slash is dropped: pages
    append /v1/...)."""
    return "window.LIVEDROP_CONFIG = " + json.dumps({"apiBase": api_url.rstrip("/")}) + ";\n"


# viewer-request, cloudfront-js-2.0: the pages' routes, generated from PAGE_ROUTES.
REWRITE_FUNCTION = """var ROUTES = [
%s
];

function handler(event) {
  var request = event.request;
  for (var i = 0; i < ROUTES.length; i++) {
    if (ROUTES[i][0].test(request.uri)) {
      request.uri = ROUTES[i][1];
      break;
    }
  }
  return request;
}
""" % ",\n".join(f"  [new RegExp({json.dumps(pattern)}), {json.dumps('/' + page)}]" for pattern, page in PAGE_ROUTES)

WEB_RESOURCES: dict[str, Any] = {
    "WebBucket": private_bucket("web"),
    "WebBucketPolicy": {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "WebBucket"},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "CloudFrontReads",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": {"Fn::Sub": "${WebBucket.Arn}/*"},
                        "Condition": {"StringEquals": {"AWS:SourceArn": {
                            "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${WebDistribution}"}}},
                    },
                    {
                        "Sid": "HttpsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [{"Fn::GetAtt": ["WebBucket", "Arn"]}, {"Fn::Sub": "${WebBucket.Arn}/*"}],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        },
    },
    "WebOriginAccessControl": {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Properties": {
            "OriginAccessControlConfig": {
                "Name": {"Fn::Sub": "livedrop-${Stage}-web"},
                "Description": "CloudFront reads the private web bucket, signed with SigV4",
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4",
            },
        },
    },
    "WebRewriteFunction": {
        "Type": "AWS::CloudFront::Function",
        "Properties": {
            "Name": {"Fn::Sub": "livedrop-${Stage}-web-rewrite"},
            "AutoPublish": True,
            "FunctionConfig": {"Comment": "/watch/<id>, /host/<id> and /docs to their pages",
                               "Runtime": "cloudfront-js-2.0"},
            "FunctionCode": REWRITE_FUNCTION,
        },
    },
    # What the origin says rules: publish_web sends no-cache for pages and config.js (MinTTL 0
    # lets CloudFront honour it) and a year, immutable, for hashed assets.
    "WebCachePolicy": {
        "Type": "AWS::CloudFront::CachePolicy",
        "Properties": {
            "CachePolicyConfig": {
                "Name": {"Fn::Sub": "livedrop-${Stage}-web"},
                "MinTTL": 0,
                "DefaultTTL": 300,
                "MaxTTL": 31536000,
                "ParametersInCacheKeyAndForwardedToOrigin": {
                    "EnableAcceptEncodingGzip": True,
                    "EnableAcceptEncodingBrotli": True,
                    "CookiesConfig": {"CookieBehavior": "none"},
                    "HeadersConfig": {"HeaderBehavior": "none"},
                    "QueryStringsConfig": {"QueryStringBehavior": "none"},
                },
            },
        },
    },
    "WebDistribution": {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {
            "DistributionConfig": {
                "Comment": {"Fn::Sub": "Livedrop web app (${Stage})"},
                "Enabled": True,
                "DefaultRootObject": "index.html",
                "HttpVersion": "http2and3",
                "IPV6Enabled": True,
                "PriceClass": "PriceClass_100",
                "Origins": [{
                    "Id": "web-bucket",
                    "DomainName": {"Fn::GetAtt": ["WebBucket", "RegionalDomainName"]},
                    "OriginAccessControlId": {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]},
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "web-bucket",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "AllowedMethods": ["GET", "HEAD"],
                    "CachedMethods": ["GET", "HEAD"],
                    "Compress": True,
                    "CachePolicyId": {"Ref": "WebCachePolicy"},
                    "FunctionAssociations": [{
                        "EventType": "viewer-request",
                        "FunctionARN": {"Fn::GetAtt": ["WebRewriteFunction", "FunctionMetadata.FunctionARN"]},
                    }],
                },
                "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
            },
        },
    },
}

WEB_OUTPUTS: dict[str, Any] = {
    "WebBucketName": {
        "Description": "python -m infra.publish_web --bucket <this> --api-url <API URL> --distribution-id <WebDistributionId>",
        "Value": {"Ref": "WebBucket"}},
    "WebDistributionId": {
        "Description": "--distribution-id of python -m infra.publish_web (invalidates the cache after a publish)",
        "Value": {"Ref": "WebDistribution"}},
    "WebUrl": {
        "Description": "The web app; add it to LIVEDROP_CORS_ORIGINS and LIVEDROP_CONSOLE_CORS_ORIGINS of the stage "
                       "(.chalice/config.json) so that its pages may call the API",
        "Value": {"Fn::Sub": "https://${WebDistribution.DomainName}"}},
}
