"""Wiring: the services with their adapters, built once per container on first use."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

from chalicelib.adapters import dynamodb
from chalicelib.adapters.dynamodb.live import LiveRepository
from chalicelib.adapters.dynamodb.orders import OrderRepository, StockRepository
from chalicelib.adapters.ivs import AwsIvs, EmbeddedIvs
from chalicelib.adapters.ivs_chat import AwsChat, EmbeddedChat
from chalicelib.adapters.payments import ExactlyOnceCharges, TestPaymentProvider
from chalicelib.adapters.secrets import operator_key, shopper_token_secret
from chalicelib.services.brands import Brands
from chalicelib.services.catalog import Catalog
from chalicelib.services.checkout import Checkout
from chalicelib.services.live import LiveShow
from chalicelib.services.shoppers import Shoppers
from chalicelib.services.shows import Shows
from chalicelib.settings import get_settings


@dataclass(frozen=True)
class Services:
    brands: Brands
    catalog: Catalog
    shows: Shows
    shoppers: Shoppers
    checkout: Checkout
    live: LiveShow


@lru_cache(maxsize=1)
def services() -> Services:
    settings = get_settings()
    dynamodb.bind(settings)
    products = dynamodb.ProductRepository()
    lineup = dynamodb.LineupRepository()
    stock = StockRepository(settings)
    channels = EmbeddedIvs(settings.embedded_secret) if settings.ivs_mode == "embedded" else AwsIvs()
    chat = EmbeddedChat() if settings.ivs_mode == "embedded" else AwsChat()
    shows = Shows(dynamodb.SessionRepository(), lineup, products, stock, channels, chat, settings)
    return Services(
        brands=Brands(dynamodb.BrandRepository(), partial(operator_key, settings)),
        catalog=Catalog(products),
        shows=shows,
        live=LiveShow(shows, LiveRepository(settings), stock, channels, chat, settings.replay_base_url),
        shoppers=Shoppers(partial(shopper_token_secret, settings)),
        checkout=Checkout(OrderRepository(settings), stock, lineup,
                          ExactlyOnceCharges(TestPaymentProvider(), settings.tables["idempotency"]),
                          session_owner=shows.get_owned),
    )


def reset() -> None:
    """Forget settings and services, so the next request reads the environment again (tests)."""
    get_settings.cache_clear()
    services.cache_clear()


def is_transient(error: BaseException) -> bool:
    """Whether a failure is passing (throttling, a 5xx, a dropped connection): the API answers
    503 `busy` with Retry-After. The edge asks the wiring, so it needs no adapter of its own."""
    from chalicelib.adapters.aws import is_transient as aws_transient

    return aws_transient(error)
