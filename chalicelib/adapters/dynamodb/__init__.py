"""DynamoDB adapters: models (tables), catalog repositories, order and stock repositories, webhooks."""
from chalicelib.adapters.dynamodb.catalog import (  # noqa: F401
    BrandRepository, LineupRepository, ProductRepository, SessionRepository,
)
from chalicelib.adapters.dynamodb.models import MODELS, bind, prime  # noqa: F401
from chalicelib.adapters.dynamodb.webhooks import WebhookRepository  # noqa: F401
