"""Price-book data fetched once per pull and shared by its records: rate cards, rates, products.

A contract is mapped with its rate card, the card's rates at the contract's start and the
products it references; usage with the products that meter its billable metric; each is fetched
from Metronome the first time a pull needs it and cached for the rest of that pull only (a new
pull sees price-book changes). Rates are cached per (rate card, moment), so contracts starting
at the same moment on one card cost one `getRates` listing between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from tieout.connectors.metronome.api import MetronomeApi

Record = dict[str, Any]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class PriceBook:
    """Lazy, per-pull caches over the price book."""

    def __init__(self, api: MetronomeApi, page_size: int) -> None:
        self.api = api
        self.page_size = page_size
        self._rate_cards: dict[str, Record] | None = None
        self._products: dict[str, Record] | None = None
        self._rates: dict[tuple[str, str], list[Record]] = {}

    def _pages(self, what: str, send: Any, **params: Any) -> Iterator[list[Record]]:
        cursor: str | None = None
        while True:
            extra: dict[str, Any] = {"next_page": cursor} if cursor else {}
            body = self.api.call(what, send, limit=self.page_size, **params, **extra)
            yield list(body.get("data") or [])
            cursor = body.get("next_page")
            if not cursor:
                return

    def rate_card(self, rate_card_id: str) -> Record | None:
        if self._rate_cards is None:
            send = self.api.sdk.v1.contracts.rate_cards.with_raw_response.list
            self._rate_cards = {
                card["id"]: card
                for page in self._pages("POST /v1/contract-pricing/rate-cards/list", send)
                for card in page
            }
        card = self._rate_cards.get(rate_card_id)
        if card is None:
            # Archived cards leave the list but still price the contracts made on them.
            body = self.api.call(
                "POST /v1/contract-pricing/rate-cards/get",
                self.api.sdk.v1.contracts.rate_cards.with_raw_response.retrieve,
                id=rate_card_id,
            )
            card = self._rate_cards[rate_card_id] = body["data"]
        return card

    def rates_at(self, rate_card_id: str, at: datetime) -> list[Record]:
        key = (rate_card_id, iso(at))
        if key not in self._rates:
            send = self.api.sdk.v1.contracts.rate_cards.rates.with_raw_response.list
            self._rates[key] = [
                row
                for page in self._pages(
                    "POST /v1/contract-pricing/rate-cards/getRates",
                    send,
                    rate_card_id=rate_card_id,
                    at=key[1],
                )
                for row in page
            ]
        return self._rates[key]

    def products(self) -> dict[str, Record]:
        if self._products is None:
            send = self.api.sdk.v1.contracts.products.with_raw_response.list
            self._products = {
                product["id"]: product
                for page in self._pages("POST /v1/contract-pricing/products/list", send, archive_filter="ALL")
                for product in page
            }
        return self._products

    def products_of_metric(self, metric_id: str) -> list[Record]:
        """USAGE products whose current version meters `metric_id`."""
        return [
            {"id": product["id"], "custom_fields": product.get("custom_fields") or {}}
            for product in self.products().values()
            if product.get("type") == "USAGE"
            and (product.get("current") or {}).get("billable_metric_id") == metric_id
        ]

    def metric_of_product(self, product_id: str) -> str | None:
        product = self.products().get(product_id)
        if product is None or product.get("type") != "USAGE":
            return None
        metric = (product.get("current") or {}).get("billable_metric_id")
        return metric if isinstance(metric, str) else None
