"""The metric names GeoPin's code defines, and those a PromQL expression asks for: what the
dashboard's and the alert rules' tests compare."""

from __future__ import annotations

import re
from collections.abc import Iterable

from geopin.metrics import SCRAPED  # importing it defines GeoPin's metrics in the registry
from prometheus_client import REGISTRY

# Suffixes Prometheus adds to a histogram's or counter's series.
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def defined() -> set[str]:
    names = set(SCRAPED)  # read per scrape by the gateway, in no registry
    for metric in REGISTRY.collect():
        names.add(metric.name)
        names.update(f"{metric.name}{suffix}" for suffix in SUFFIXES)
    return names


def used(exprs: Iterable[str]) -> set[str]:
    return {name for expr in exprs for name in re.findall(r"\bgeopin_[a-z_]+", expr)}
