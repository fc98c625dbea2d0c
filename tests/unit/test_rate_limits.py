"""The rule that turns rate limits on or off, and whom a request counts against."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from geopin.rate_limits import client_address, rate_limits_on
from geopin.settings import Settings

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 -- the reachable bind these tests are about


def _settings(keys: bool, bind_host: str | None, enabled: bool | None = None) -> Settings:
    return Settings(auth={"enabled": keys}, limits={"bind_host": bind_host, "enabled": enabled})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_limits_are_off_with_keys_off_on_a_loopback_bind(host: str) -> None:
    assert not rate_limits_on(_settings(keys=False, bind_host=host))


@pytest.mark.parametrize(
    "host", [ALL_INTERFACES, "::", "192.168.1.20", "10.0.0.5", "geopin.example.com", "", None]
)
def test_limits_are_on_with_keys_off_on_a_reachable_or_unknown_bind(host: str | None) -> None:
    assert rate_limits_on(_settings(keys=False, bind_host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", ALL_INTERFACES, None])
def test_limits_are_on_whenever_keys_are_on(host: str | None) -> None:
    assert rate_limits_on(_settings(keys=True, bind_host=host))


@pytest.mark.parametrize(
    ("keys", "host", "enabled"),
    [(True, ALL_INTERFACES, False), (False, "127.0.0.1", True), (False, None, False)],
)
def test_an_explicit_switch_overrides_the_rule(keys: bool, host: str | None, enabled: bool) -> None:
    assert rate_limits_on(_settings(keys, host, enabled)) is enabled


PROXIES = [ip_network("10.0.0.0/8")]


def test_without_trusted_proxies_the_peer_counts_whatever_the_header_says() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], []) == "203.0.113.7"


def test_an_untrusted_peer_cannot_name_another_client() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], PROXIES) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_client_it_saw_counts() -> None:
    assert client_address("10.1.2.3", ["198.51.100.1"], PROXIES) == "198.51.100.1"


def test_what_a_client_wrote_into_the_header_itself_is_ignored() -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the peer it saw.
    assert client_address("10.1.2.3", ["6.6.6.6, 198.51.100.1"], PROXIES) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_back_to_the_client() -> None:
    headers = ["6.6.6.6, 198.51.100.1", "10.9.9.9"]  # two header lines, joined in order
    assert client_address("10.1.2.3", headers, PROXIES) == "198.51.100.1"


def test_a_trusted_proxy_without_the_header_counts_as_itself() -> None:
    assert client_address("10.1.2.3", [], PROXIES) == "10.1.2.3"
