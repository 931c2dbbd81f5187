"""Scrape helper of the metrics tests: real HTTP GET, parsed by prometheus-client."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "scrape"]


class Scrape:
    """A parsed ``/metrics`` answer: families by name, and one sample's value."""

    def __init__(self, text: str, content_type: str) -> None:
        self.text = text
        self.content_type = content_type
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample_name: str, **labels: str) -> float:
        """The value of the one sample named ``sample_name`` with exactly ``labels``."""
        found = [
            s.value
            for f in self.families.values()
            for s in f.samples
            if s.name == sample_name and s.labels == labels
        ]
        assert len(found) == 1, (sample_name, labels, found)
        return float(found[0])

    def samples(self, family: str) -> list[Any]:
        return list(self.families[family].samples)


async def scrape(url: str) -> Scrape:
    """GET ``url`` over real HTTP and parse it."""
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        assert response.status == 200, await response.text()
        return Scrape(await response.text(), response.headers["Content-Type"])
