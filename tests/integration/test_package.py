"""`chalice package` builds the deployment: the Lambda package and its SAM template."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_chalice_package_builds_the_prod_deployment(tmp_path):
    chalice = Path(sys.executable).parent / "chalice"
    from infra.tables import ANALYTICS_STREAMS

    def arn(table):
        return f"arn:aws:dynamodb:us-east-1:123456789012:table/livedrop-prod-{table}/stream/2026-11-22T00:00:00.000"

    stream = arn("stock")
    analytics_streams = {variable: arn(table) for table, variable in ANALYTICS_STREAMS.items()}
    pool = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbC123"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "LIVEDROP_STOCK_STREAM_ARN": stream, **analytics_streams,
           "LIVEDROP_COGNITO_USER_POOL_ARN": pool}
    result = subprocess.run([str(chalice), "package", "--stage", "prod", str(tmp_path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    names = zipfile.ZipFile(tmp_path / "deployment.zip").namelist()
    assert "app.py" in names and "chalicelib/api/routing.py" in names
    assert not any(name.startswith(("tests/", "devstack/", "infra/")) for name in names)
    template = json.loads((tmp_path / "sam.json").read_text())
    function = template["Resources"]["APIHandler"]["Properties"]
    assert function["Environment"]["Variables"]["LIVEDROP_PRODUCTS_TABLE"] == "livedrop-prod-products"
    statements = json.dumps(template["Resources"]["ApiHandlerRole"])
    assert "livedrop-prod-" in statements and "livedrop-dev-" not in statements
    # The scheduled sweeper, the IVS EventBridge rule and the stock stream handler are deployed too.
    everything = json.dumps(template)
    assert "release_expired_reservations" in everything and "rate(1 minute)" in everything
    assert '"aws.ivs"' in everything and "IVS Stream State Change" in everything
    assert stream in everything
    # The analytics: a handler per stream, the viewer sampler and the settling, every minute.
    for handler in ("analytics_orders", "analytics_likes", "analytics_sessions", "sample_viewers", "settle_analytics"):
        assert handler in everything, handler
    for analytics_stream in analytics_streams.values():
        assert analytics_stream in everything
    # CORS: every path has an OPTIONS method answered by the function (the preflight), and the stage's
    # own origins are in its environment.
    from chalicelib.api.routing import ROUTES

    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for path in {spec.path for spec in ROUTES}:
        integration = paths[path]["options"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", path
    # API Gateway checks the pool's tokens on the exchange (its POST only, not its preflight), and nowhere else.
    secured = {(path, method) for path, methods in paths.items() for method, operation in methods.items()
               if isinstance(operation, dict) and operation.get("security")}
    assert secured == {("/v1/shoppers/verified", "post")}
    assert pool in json.dumps(template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["securityDefinitions"])
    # PyJWT and its RSA (cryptography, built for Lambda's Linux) go with the function.
    assert any(name.startswith("jwt/") for name in names) and any(name.startswith("cryptography/") for name in names)
    variables = function["Environment"]["Variables"]
    assert variables["LIVEDROP_CORS_ORIGINS"] == "https://shop.example.com"
    assert "*" not in variables["LIVEDROP_CONSOLE_CORS_ORIGINS"]
