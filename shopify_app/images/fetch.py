"""An SSRF-safe image downloader, for provider outputs and merchant images alike.

Every URL, and every redirect hop, goes through the same vetting:

1. `https` only (a host listed in `settings.fetch_allowed_hosts` may also use `http` and
   resolve to private/loopback addresses: that is for development against local services);
2. no credentials in the URL;
3. the host is resolved *here*, and EVERY address it resolves to must be public: not private,
   loopback, link-local, CGNAT, multicast, reserved, unspecified or a cloud-metadata address
   (IPv4-mapped, 6to4, Teredo and NAT64 forms of those included);
4. the connection is then made to the vetted address (pinned), with the hostname kept for SNI,
   certificate checks and the Host header, so a DNS answer that changes between our check and
   the connect (DNS rebinding) cannot move us somewhere else.

Redirects are followed by hand (at most `max_redirects`), each hop vetted again. The body is
streamed and abandoned as soon as it passes `max_bytes` (a declared Content-Length above the cap
is refused before reading). Connect and read timeouts bound each socket operation and a total
deadline bounds the whole download.

The HTTP call goes through `requests` (an `HTTPAdapter` subclass whose only change is which
address the connection pool dials), so tests drive it with `responses`, and the resolver is
injectable so a test can say what a name resolves to without DNS.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from shopify_app.images.errors import FetchFailed, TooLarge, UnsafeURL
from shopify_app.settings import Settings

MAX_BYTES = 25 * 1024 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "CatalogStudio-ImageFetcher/1.0"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as strings.
Resolver = Callable[[str, int], Sequence[str]]

# Cloud instance-metadata endpoints, refused even for allowed dev hosts.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
# Ranges the `is_*` properties do not all cover on every Python version.
EXTRA_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
    )
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses `host` resolves to (A and AAAA), in resolver order, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"could not resolve {host}: {exc}", code="dns_error") from None
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%")[0]
        if address not in seen:
            seen.append(address)
    return seen


def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` must not be connected to, or None when it is a public unicast address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address that embeds an IPv4 one is judged by the IPv4 address too.
        embedded: IPAddress | None = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = blocked_reason(embedded)
            if reason:
                return reason
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return f"a {name} address"
    if any(address in network for network in EXTRA_BLOCKED_NETWORKS if network.version == address.version):
        return "a non-public address"
    if not address.is_global:
        return "a non-public address"
    return None


@dataclass(frozen=True)
class FetchedImage:
    url: str
    final_url: str
    content: bytes
    content_type: str | None
    redirects: int

    def __repr__(self) -> str:
        return f"FetchedImage({self.final_url!r}, {len(self.content)} bytes)"


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    address: str  # the vetted address the connection is pinned to

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class _PinnedAdapter(HTTPAdapter):
    """Dials the vetted address for `host` instead of resolving it again.

    Only the connection-pool choice changes: the request URL keeps the hostname, TLS uses it for
    SNI and certificate verification (`server_hostname`/`assert_hostname`), and `send` is the
    stock one (which is what `responses` patches in tests).
    """

    def __init__(self, target: _Target) -> None:
        self._target = target
        super().__init__(max_retries=0, pool_connections=1, pool_maxsize=1)

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if (host_params.get("host") or "").strip("[]").lower() != self._target.host:
            raise UnsafeURL("the request host changed after it was vetted", code="host_mismatch")
        host_params["host"] = self._target.address
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._target.host
            pool_kwargs["assert_hostname"] = self._target.host
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)


class SafeFetcher:
    """Downloads one URL under the rules in the module docstring. Cheap to build."""

    def __init__(
        self,
        *,
        allowed_hosts: Sequence[str] = (),
        resolver: Resolver = system_resolver,
        max_bytes: int = MAX_BYTES,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_redirects: int = MAX_REDIRECTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed_hosts = frozenset(h.strip().lower().strip("[]") for h in allowed_hosts if h.strip())
        self.resolver = resolver
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SafeFetcher:
        return cls(allowed_hosts=settings.fetch_allowed_hosts, **overrides)

    # ------------------------------------------------------------------------- vetting

    def vet(self, url: str) -> _Target:
        """Check `url` and resolve its host; raises UnsafeURL, or FetchFailed for DNS errors."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise UnsafeURL(f"not a valid URL: {exc}", code="invalid_url") from None
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise UnsafeURL("the URL has no host", code="invalid_url")
        if parts.username is not None or parts.password is not None:
            raise UnsafeURL("URLs with credentials are not fetched", code="credentials_in_url")
        allowed = host in self.allowed_hosts
        if scheme != "https" and not (allowed and scheme == "http"):
            raise UnsafeURL(f"only https URLs are fetched, not {scheme or 'scheme-less'} ones", code="scheme")
        port = port or (443 if scheme == "https" else 80)

        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses = [str(literal)] if literal is not None else list(self.resolver(host, port))
        if not addresses:
            raise FetchFailed(f"{host} did not resolve to any address", code="dns_error")
        for raw in addresses:
            try:
                address = ipaddress.ip_address(raw.split("%")[0])
            except ValueError:
                raise UnsafeURL(f"{host} resolved to something that is not an address", code="bad_address") from None
            reason = blocked_reason(address)
            # Allowed dev hosts may be private or loopback, never a metadata endpoint.
            if reason and (not allowed or address in METADATA_ADDRESSES):
                raise UnsafeURL(f"{host} resolves to {reason} ({address}); refusing to fetch", code="blocked_address")
        return _Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0].split("%")[0])

    # ------------------------------------------------------------------------- fetching

    def fetch(self, url: str) -> FetchedImage:
        """Download `url`; raises UnsafeURL, TooLarge or FetchFailed."""
        deadline = self.clock() + self.total_timeout
        current = url
        for hop in range(self.max_redirects + 1):
            target = self.vet(current)
            response = self._request(target, deadline)
            try:
                if response.status_code in REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchFailed(f"HTTP {response.status_code} redirect without a Location", code="bad_redirect")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise FetchFailed(f"HTTP {response.status_code} from {target.host}", code=f"http_{response.status_code}")
                content = self._read_body(response, deadline)
                return FetchedImage(
                    url=url,
                    final_url=current,
                    content=content,
                    content_type=(response.headers.get("Content-Type") or "").split(";")[0].strip() or None,
                    redirects=hop,
                )
            finally:
                response.close()
        raise FetchFailed(f"more than {self.max_redirects} redirects", code="too_many_redirects")

    def _request(self, target: _Target, deadline: float) -> requests.Response:
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise FetchFailed("the download took too long", code="deadline")
        session = requests.Session()
        session.trust_env = False  # an environment proxy would bypass the pinned address
        adapter = _PinnedAdapter(target)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        headers = {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Accept": "image/jpeg, image/png, image/webp;q=0.9, */*;q=0.1",
            # Compressed transfer would make the size cap count decoded bytes; ask for none.
            "Accept-Encoding": "identity",
        }
        try:
            return session.get(
                target.url,
                headers=headers,
                allow_redirects=False,
                stream=True,
                timeout=(min(self.connect_timeout, remaining), min(self.read_timeout, remaining)),
            )
        except requests.Timeout:
            raise FetchFailed(f"timed out fetching from {target.host}", code="timeout") from None
        except requests.RequestException as exc:
            raise FetchFailed(f"could not fetch from {target.host}: {type(exc).__name__}", code="connection_error") from None
        finally:
            session.close()

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None:
            try:
                if int(declared) > self.max_bytes:
                    raise TooLarge(f"the image is {int(declared)} bytes; the limit is {self.max_bytes}")
            except ValueError:
                raise FetchFailed("malformed Content-Length", code="bad_response") from None
        chunks: list[bytes] = []
        size = 0
        try:
            # read1 returns after a single socket read, so a server that drips bytes cannot
            # stretch one call past the read timeout and the deadline is checked every read.
            while chunk := response.raw.read1(64 * 1024, decode_content=True):
                size += len(chunk)
                if size > self.max_bytes:
                    raise TooLarge(f"the image is larger than the {self.max_bytes} byte limit")
                if self.clock() > deadline:
                    raise FetchFailed("the download took too long", code="deadline")
                chunks.append(chunk)
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise FetchFailed("timed out reading the image", code="timeout") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchFailed(f"the download broke off: {type(exc).__name__}", code="connection_error") from None
        return b"".join(chunks)


def fetch_image(url: str, settings: Settings, **overrides: Any) -> FetchedImage:
    """Download `url` with the app's rules (see `SafeFetcher`)."""
    return SafeFetcher.from_settings(settings, **overrides).fetch(url)
