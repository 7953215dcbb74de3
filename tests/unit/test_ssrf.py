"""The SSRF guard of outgoing webhooks (TRUST.md, "Security"): every spelling of an internal
address is refused, public ones pass, and the checked address is the one connected to."""

from __future__ import annotations

import ipaddress

import pytest

from retentio.channels import UnsafeUrl, check_url, parse_networks
from retentio.core.errors import DataError


def public(_host: str, _port: int) -> list[str]:
    return ["93.184.215.14"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/", "loopback"),
        ("https://127.1/", "loopback"),
        ("https://2130706433/", "loopback"),
        ("https://0x7f.0.0.1/", "loopback"),
        ("https://017700000001/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[::ffff:7f00:1]/", "loopback"),
        ("https://[2002:7f00:1::]/", "loopback"),  # 6to4 carrying 127.0.0.1
        ("https://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://10.0.0.5/", "private"),
        ("https://172.16.3.4/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://100.64.0.1/", "private"),  # shared address space (carrier-grade NAT)
        ("https://[fd00::1]/", "private"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://240.0.0.1/", "reserved"),
    ],
)
def test_internal_addresses_are_refused_in_every_spelling(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(url)


def test_a_name_is_refused_when_any_of_its_addresses_is_internal() -> None:
    def mixed(_host: str, _port: int) -> list[str]:
        return ["93.184.215.14", "10.1.2.3"]

    with pytest.raises(UnsafeUrl, match="'hooks.example' resolves to 10.1.2.3"):
        check_url("https://hooks.example/x", resolver=mixed)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example/", "https only"),
        ("ftp://hooks.example/", "https only"),
        ("hooks.example/path", "https only"),
        ("https://user:pw@hooks.example/", "no user or password"),
        ("https:///path", "no host"),
        ("https://hooks.example:99999/", "not a URL"),
    ],
)
def test_urls_that_are_not_plain_https_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(url, resolver=public)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def fails(host: str, _port: int) -> list[str]:
        raise OSError(f"no such host {host}")

    with pytest.raises(UnsafeUrl, match="cannot resolve 'nowhere.example'"):
        check_url("https://nowhere.example/", resolver=fails)
    with pytest.raises(UnsafeUrl, match="resolves to no address"):
        check_url("https://nowhere.example/", resolver=lambda _h, _p: [])


def test_a_public_address_passes_and_is_connected_to_directly() -> None:
    target = check_url("https://Hooks.Example.:8443/in?shop=1", resolver=public)
    assert target.connect_url == "https://93.184.215.14:8443/in?shop=1"
    assert target.host == "hooks.example"
    assert target.host_header == "hooks.example:8443"
    six = check_url("https://v6.example/", resolver=lambda _h, _p: ["2606:2800:21f:cb07::1"])
    assert six.connect_url == "https://[2606:2800:21f:cb07::1]:443/"
    assert six.host_header == "v6.example"


def test_allowed_networks_open_a_private_range_on_purpose() -> None:
    allowed = parse_networks("10.20.0.0/16, fd00::/8")
    assert allowed == (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("fd00::/8"))
    target = check_url("https://10.20.1.2/hook", allowed=allowed)
    assert target.address == "10.20.1.2"
    with pytest.raises(UnsafeUrl, match="private"):
        check_url("https://10.21.1.2/hook", allowed=allowed)
    assert parse_networks("") == parse_networks(None) == ()
    with pytest.raises(DataError, match="'10.0.0.0/33'"):
        parse_networks("10.0.0.0/33")
