"""The SSRF-safe downloader: what it refuses, and that what it allows really arrives."""

from __future__ import annotations

import http.server
import ipaddress
import threading
from collections.abc import Iterator

import pytest
import requests
import responses

from shopify_app.images.errors import FetchFailed, TooLarge, UnsafeURL
from shopify_app.images.fetch import SafeFetcher, blocked_reason, fetch_image
from tests.images.conftest import PUBLIC_IP, FakeResolver

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def fetcher(resolver: FakeResolver, **kwargs: object) -> SafeFetcher:
    return SafeFetcher(resolver=resolver, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://cdn.example.com/a.png", "scheme"),
        ("ftp://cdn.example.com/a.png", "scheme"),
        ("file:///etc/passwd", "invalid_url"),
        ("https://127.0.0.1/a.png", "blocked_address"),
        ("https://10.0.0.8/a.png", "blocked_address"),
        ("https://169.254.169.254/latest/meta-data/", "blocked_address"),
        ("https://[::1]/a.png", "blocked_address"),
        ("https://[::ffff:127.0.0.1]/a.png", "blocked_address"),
        ("https://[::ffff:a9fe:a9fe]/a.png", "blocked_address"),
        ("https://[fd00:ec2::254]/a.png", "blocked_address"),
        ("https://100.64.0.1/a.png", "blocked_address"),
        ("https://0.0.0.0/a.png", "blocked_address"),
        ("https://user:secret@cdn.example.com/a.png", "credentials_in_url"),
        ("https:///a.png", "invalid_url"),
    ],
)
def test_refuses_unsafe_urls_without_connecting(
    url: str, code: str, resolver: FakeResolver, mocked_responses: responses.RequestsMock
) -> None:
    with pytest.raises(UnsafeURL) as caught:
        fetcher(resolver).fetch(url)
    assert caught.value.code == code
    assert len(mocked_responses.calls) == 0


@pytest.mark.parametrize(
    "addresses",
    [["10.1.2.3"], ["192.168.0.10"], ["127.0.0.1"], ["::1"], [PUBLIC_IP, "172.16.0.5"], ["169.254.169.254"]],
)
def test_refuses_a_public_looking_name_that_resolves_to_a_private_address(
    addresses: list[str], mocked_responses: responses.RequestsMock
) -> None:
    resolver = FakeResolver({"images.totally-public.example": addresses})
    with pytest.raises(UnsafeURL, match="resolves to"):
        fetcher(resolver).fetch("https://images.totally-public.example/a.png")
    assert len(mocked_responses.calls) == 0


def test_refuses_a_redirect_to_a_private_address(mocked_responses: responses.RequestsMock) -> None:
    resolver = FakeResolver({"cdn.example.com": [PUBLIC_IP], "internal.example.com": ["10.0.0.7"]})
    mocked_responses.get("https://cdn.example.com/a.png", status=302,
                         headers={"Location": "https://internal.example.com/secret"})
    internal = mocked_responses.get("https://internal.example.com/secret", body=PNG_BYTES)
    with pytest.raises(UnsafeURL, match="10.0.0.7"):
        fetcher(resolver).fetch("https://cdn.example.com/a.png")
    assert internal.call_count == 0


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "https://[::1]/x", "http://cdn.example.com/b.png"])
def test_every_redirect_hop_is_vetted(location: str, resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get("https://cdn.example.com/a.png", status=301, headers={"Location": location})
    with pytest.raises(UnsafeURL):
        fetcher(resolver).fetch("https://cdn.example.com/a.png")
    assert len(mocked_responses.calls) == 1


def test_follows_at_most_five_redirects(resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    for i in range(6):
        mocked_responses.get(f"https://cdn.example.com/{i}", status=307, headers={"Location": f"/{i + 1}"})
    mocked_responses.get("https://cdn.example.com/6", body=PNG_BYTES)
    with pytest.raises(FetchFailed) as caught:
        fetcher(resolver).fetch("https://cdn.example.com/0")
    assert caught.value.code == "too_many_redirects"
    assert len(mocked_responses.calls) == 6


def test_follows_relative_redirects_within_the_limit(resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    for i in range(5):
        mocked_responses.get(f"https://cdn.example.com/{i}", status=302, headers={"Location": f"/{i + 1}"})
    mocked_responses.get("https://cdn.example.com/5", body=PNG_BYTES, content_type="image/png")
    result = fetcher(resolver).fetch("https://cdn.example.com/0")
    assert result.content == PNG_BYTES
    assert result.redirects == 5
    assert result.final_url == "https://cdn.example.com/5"


# ------------------------------------------------------------------------------ limits


def test_refuses_a_declared_size_over_the_cap_before_reading(resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get("https://cdn.example.com/big.png", body=b"x" * 10,
                         headers={"Content-Length": str(26 * 1024 * 1024)}, auto_calculate_content_length=False)
    with pytest.raises(TooLarge, match="limit"):
        fetcher(resolver).fetch("https://cdn.example.com/big.png")


def test_stops_reading_a_body_that_grows_past_the_cap(resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get("https://cdn.example.com/big.png", body=b"x" * 300_000)
    with pytest.raises(TooLarge):
        fetcher(resolver, max_bytes=100_000).fetch("https://cdn.example.com/big.png")


def test_the_default_cap_is_25_mb() -> None:
    assert SafeFetcher().max_bytes == 25 * 1024 * 1024


@pytest.mark.parametrize("error", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout])
def test_a_timeout_is_a_fetch_failure(error: type[Exception], resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get("https://cdn.example.com/slow.png", body=error("timed out"))
    with pytest.raises(FetchFailed) as caught:
        fetcher(resolver).fetch("https://cdn.example.com/slow.png")
    assert caught.value.code == "timeout"


def test_the_total_deadline_bounds_the_whole_download(resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    ticks = iter([0.0, 1.0, 50.0, 100.0, 150.0])
    mocked_responses.get("https://cdn.example.com/drip.png", body=PNG_BYTES)
    with pytest.raises(FetchFailed) as caught:
        fetcher(resolver, total_timeout=30.0, clock=lambda: next(ticks)).fetch("https://cdn.example.com/drip.png")
    assert caught.value.code == "deadline"


@pytest.mark.parametrize("status", [404, 403, 500, 503])
def test_an_error_status_is_a_fetch_failure(status: int, resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get("https://cdn.example.com/a.png", status=status)
    with pytest.raises(FetchFailed) as caught:
        fetcher(resolver).fetch("https://cdn.example.com/a.png")
    assert caught.value.code == f"http_{status}"


# ------------------------------------------------------------------------------ happy paths


def test_downloads_from_a_public_host(resolver: FakeResolver, mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.get("https://cdn.example.com/a.png", body=PNG_BYTES, content_type="image/png; charset=binary")
    result = fetcher(resolver).fetch("https://cdn.example.com/a.png")
    assert result.content == PNG_BYTES
    assert result.content_type == "image/png"
    assert result.redirects == 0
    assert resolver.lookups == ["cdn.example.com"]
    sent = mocked_responses.calls[0].request
    assert sent.headers["Host"] == "cdn.example.com"
    assert sent.headers["Accept-Encoding"] == "identity"


def test_fetch_image_uses_the_allowed_hosts_from_settings(settings, mocked_responses: responses.RequestsMock) -> None:  # noqa: ANN001
    settings = settings.replace(fetch_allowed_hosts=("devbox.local",))
    resolver = FakeResolver({"devbox.local": ["127.0.0.1"]})
    mocked_responses.get("http://devbox.local:9000/a.png", body=PNG_BYTES)
    result = fetch_image("http://devbox.local:9000/a.png", settings, resolver=resolver)
    assert result.content == PNG_BYTES
    with pytest.raises(UnsafeURL):
        fetch_image("http://other.local/a.png", settings, resolver=resolver)


def test_an_allowed_dev_host_still_cannot_reach_cloud_metadata(mocked_responses: responses.RequestsMock) -> None:
    resolver = FakeResolver({"devbox.local": ["169.254.169.254"]})
    with pytest.raises(UnsafeURL, match="metadata"):
        fetcher(resolver, allowed_hosts=("devbox.local",)).fetch("http://devbox.local/latest/meta-data/")


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    seen_hosts: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).seen_hosts.append(self.headers["Host"])
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG_BYTES)))
        self.end_headers()
        self.wfile.write(PNG_BYTES)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_connects_to_the_vetted_address_not_a_fresh_lookup(
    image_server: int, mocked_responses: responses.RequestsMock, no_outbound_network
) -> None:  # noqa: ANN001
    """A real socket: the name is never resolved by the system (the test guard would fail the
    test on a DNS lookup), the connection goes to the address the resolver vetted, and the
    Host header still carries the name."""
    mocked_responses.add_passthru("http://images.pinned.test")
    resolver = FakeResolver({"images.pinned.test": ["127.0.0.1"]})
    _ImageHandler.seen_hosts = []
    result = fetcher(resolver, allowed_hosts=("images.pinned.test",)).fetch(
        f"http://images.pinned.test:{image_server}/a.png"
    )
    assert result.content == PNG_BYTES
    assert _ImageHandler.seen_hosts == [f"images.pinned.test:{image_server}"]
    assert no_outbound_network.violations == []


# ------------------------------------------------------------------------------ address rules


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.1.1", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "198.18.0.1", "::", "::1", "fe80::1", "fc00::1",
     "fd00:ec2::254", "ff02::1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
     "64:ff9b::a00:1", "2001:db8::1"],
)
def test_blocked_addresses(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [PUBLIC_IP, "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None
