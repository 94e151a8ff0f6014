"""The SSRF guard's address matrix: what a callback URL may resolve to, with and without private targets."""

from __future__ import annotations

import pytest

from common.webhooks.ssrf import UnsafeUrl, check_url

REFUSED_ALWAYS = [
    "169.254.169.254",  # cloud metadata (AWS, GCP, Azure)
    "169.254.170.2",  # ECS task metadata
    "100.100.100.200",  # Alibaba metadata
    "fd00:ec2::254",  # AWS metadata over IPv6
    "169.254.1.1",  # link-local
    "fe80::1",  # link-local v6
    "224.0.0.1",  # multicast
    "ff02::1",  # multicast v6
    "0.0.0.0",  # unspecified
    "::",  # unspecified v6
    "240.0.0.1",  # reserved
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::ffff:169.254.169.254",  # IPv4-mapped metadata
]
PRIVATE = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "fc00::1",  # unique local
    "::ffff:10.0.0.1",  # IPv4-mapped private
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


def literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", REFUSED_ALWAYS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_internal_addresses_are_refused_even_when_private_targets_are_allowed(
    address: str, allow_private: bool
) -> None:
    with pytest.raises(UnsafeUrl, match="resolves to"):
        check_url(f"http://{literal(address)}/hook", allow_private=allow_private)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_addresses_need_the_setting(address: str) -> None:
    with pytest.raises(UnsafeUrl, match=r"private|loopback"):
        check_url(f"http://{literal(address)}:8080/hook", allow_private=False)
    target = check_url(f"http://{literal(address)}:8080/hook", allow_private=True)
    assert (target.port, target.path) == (8080, "/hook")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    target = check_url(f"https://{literal(address)}/a?b=1", allow_private=False)
    assert (target.scheme, target.port, target.path) == ("https", 443, "/a?b=1")


def test_a_name_is_resolved_and_the_checked_address_is_the_one_to_connect_to() -> None:
    target = check_url(
        "https://hooks.example.com/x", allow_private=False, resolver=lambda host, port: ["93.184.215.14"]
    )
    assert (target.host, target.address, target.port) == ("hooks.example.com", "93.184.215.14", 443)


def test_a_name_with_any_internal_address_is_refused() -> None:
    def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "127.0.0.1"]

    with pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1"):
        check_url("https://hooks.example.com/x", allow_private=False, resolver=rebinding)


def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("http://localhost:9/x", allow_private=False)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check_url("https://nowhere.invalid/x", allow_private=True, resolver=nxdomain)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "http:///x", "https://user:pw@example.com/", "x"]
)
def test_malformed_or_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_private=True, resolver=lambda host, port: ["93.184.215.14"])
