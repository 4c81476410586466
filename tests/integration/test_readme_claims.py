"""README claims that no other test shows, each shown here (the claim quoted in the docstring)."""
import subprocess
import sys
from pathlib import Path

from chalicelib import bootstrap
from tests.conftest import live_drop, make_product, make_session, make_shopper, order

ROOT = Path(__file__).resolve().parents[2]


def test_expired_shopper_tokens_are_refused(api, brand, clock):
    """"HMAC-signed tokens (24 h)": a token is refused once it has expired."""
    session, product = live_drop(api, brand["apiKey"], quantity=2)
    shopper = make_shopper(api)
    assert order(api, shopper, session["id"], product["id"]).status_code == 201
    clock.advance(24 * 3600 + 1)
    assert order(api, shopper, session["id"], product["id"]).status_code == 401


def test_expected_orders_per_second_gives_shards(api, brand):
    """"`expectedOrdersPerSecond` (one shard per 250 orders/s)", never more shards than units."""
    key = brand["apiKey"]
    session = make_session(api, key)
    for rate, quantity, shards in ((1000, 100, 4), (1001, 100, 5), (100_000, 100, 50), (1000, 3, 3), (1, 100, 1)):
        product = make_product(api, key, stock=quantity)
        added = api.post(f"/v1/sessions/{session['id']}/lineup",
                         {"productId": product["id"], "quantity": quantity, "expectedOrdersPerSecond": rate}, key=key)
        assert added.json["shards"] == shards, (rate, quantity, added.body)


def test_ending_a_session_stops_the_stream(api, brand, clock):
    """"Ending a session stops the stream"."""
    from chalicelib.adapters.ivs import EmbeddedIvs
    from chalicelib.settings import get_settings

    class Recording(EmbeddedIvs):
        stopped: list[str] = []

        def stop_stream(self, channel_arn):
            self.stopped.append(channel_arn)
            return True

    channels = Recording(get_settings().embedded_secret)
    bootstrap.override(clock=clock, channels=channels)
    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    assert channels.stopped == []
    api.post(f"/v1/sessions/{session['id']}/end", key=brand["apiKey"])
    assert len(channels.stopped) == 1


def test_live_makes_six_dynamodb_reads_and_no_write_at_most_once_a_second(api, brand, aws_calls, clock):
    """"A server computes a show's state at most once a second (six DynamoDB reads, no write)"."""
    session, _ = live_drop(api, brand["apiKey"], quantity=1)
    aws_calls.log.clear()
    assert api.get(f"/v1/sessions/{session['id']}/live").status_code == 200
    reads = [call for call in aws_calls.log if call.startswith("dynamodb:")]
    assert sorted(reads) == sorted(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem",
                                    "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:BatchGetItem"])
    aws_calls.log.clear()
    assert api.get(f"/v1/sessions/{session['id']}/live").status_code == 200
    assert [call for call in aws_calls.log if call.startswith("dynamodb:")] == []


def test_idempotency_and_payments_load_only_when_first_used():
    """"Powertools idempotency, Parameters and the payment code load only when first used"."""
    probe = (
        "import sys, app\n"
        "from chalicelib.bootstrap import services\n"
        "services()\n"
        "lazy = ['aws_lambda_powertools.utilities.idempotency', 'aws_lambda_powertools.utilities.parameters']\n"
        "print([name for name in lazy if name in sys.modules])\n"
    )
    env = {"PYTHONPATH": str(ROOT), "AWS_DEFAULT_REGION": "us-east-1", "LIVEDROP_IVS_MODE": "embedded",
           "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
