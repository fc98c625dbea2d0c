"""The SSRF guard refuses every address class that is not global unicast, however it is named."""

from __future__ import annotations

import ipaddress

import pytest
from geopin.webhooks.ssrf import CallbackRefused, SsrfGuard, address_refusal, parse_callback_url

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("fe80::1", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),  # global-scope multicast is still not a host
    ("0.0.0.0", "unspecified"),  # noqa: S104 -- an address under test, not a bind
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:169.254.169.254", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
    ("240.0.0.1", "private"),  # reserved for future use
    ("255.255.255.255", "private"),  # broadcast
    ("192.0.2.1", "private"),  # documentation
    ("2001:db8::1", "private"),  # documentation
    ("198.18.0.1", "private"),  # benchmarking
    ("0.1.2.3", "private"),  # "this network"
    ("fec0::1", "site-local"),
    ("64:ff9b::a9fe:a9fe", "reserved"),  # NAT64 of 169.254.169.254
    ("::7f00:1", "reserved"),  # IPv4-compatible 127.0.0.1
    ("2002:7f00:1::", "loopback (6to4 for 127.0.0.1)"),
    ("2002:a00:1::", "private (6to4 for 10.0.0.1)"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "private"),  # Teredo
]


@pytest.mark.parametrize(("address", "reason"), REFUSED, ids=[a for a, _ in REFUSED])
def test_non_global_address_is_refused_with_its_class(address: str, reason: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111"])
def test_global_unicast_address_passes(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def fixed(*answers: str) -> SsrfGuard:
    return SsrfGuard(resolver=lambda host, port: list(answers))


@pytest.mark.parametrize(("address", "reason"), REFUSED[:18], ids=[a for a, _ in REFUSED[:18]])
def test_host_resolving_to_a_non_global_address_is_refused(address: str, reason: str) -> None:
    with pytest.raises(CallbackRefused, match=reason):
        fixed(address).check("https://hooks.example.com/geopin")


def test_one_private_answer_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(CallbackRefused, match=r"10\.0\.0\.7"):
        fixed("93.184.216.34", "10.0.0.7").check("https://hooks.example.com/")


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://[::ffff:7f00:1]/"],
    ids=["decimal", "hex", "short", "mapped-literal"],
)
def test_loopback_in_disguise_is_refused_by_the_real_resolver(url: str) -> None:
    with pytest.raises(CallbackRefused):
        SsrfGuard().check(url)


def test_localhost_is_refused_by_the_real_resolver() -> None:
    with pytest.raises(CallbackRefused, match="loopback"):
        SsrfGuard().check("http://localhost:8000/hook")


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(CallbackRefused, match="does not resolve"):
        SsrfGuard().check("https://no-such-host.invalid/hook")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "http:// or https://"),
        ("https:///nohost", "no host"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://hooks.example.com:99999/", "port"),
        ("https://hooks.example.com/" + "a" * 2100, "longer than"),
    ],
    ids=["ftp", "file", "gopher", "no-host", "credentials", "bad-port", "too-long"],
)
def test_url_refused_before_any_lookup(url: str, message: str) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("the URL alone should have been refused")

    with pytest.raises(CallbackRefused, match=message):
        SsrfGuard(resolver=resolver).check(url)


def test_allowed_test_network_lets_loopback_through_and_nothing_else() -> None:
    guard = SsrfGuard(
        resolver=lambda host, port: [host], allow=[ipaddress.ip_network("127.0.0.1/32")]
    )
    target, addresses = guard.check("http://127.0.0.1:8123/hook?x=1")
    assert addresses == [ipaddress.ip_address("127.0.0.1")]
    assert (target.host, target.port, target.path) == ("127.0.0.1", 8123, "/hook?x=1")
    with pytest.raises(CallbackRefused, match="loopback"):
        guard.check("http://127.0.0.2:8123/hook")


def test_default_ports_follow_the_scheme() -> None:
    assert parse_callback_url("https://example.com").port == 443
    assert parse_callback_url("http://example.com").port == 80
    assert parse_callback_url("http://[2606:4700::1111]:81/x").host == "2606:4700::1111"
