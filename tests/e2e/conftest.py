"""Real HTTP against what `make run` serves. The server is the integration suite's `base_url`
(one fixture, so both tiers start `chalice local` the same way)."""
from tests.integration.conftest import base_url  # noqa: F401  (a fixture, used by name)
