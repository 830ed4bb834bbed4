"""The client's address: the one place that decides which address a request came from.

Behind the shipped nginx every connection comes from nginx, so the TCP peer names nginx, not the
browser. The client's address is taken from a header only when the peer is one of the configured
``trusted_proxies`` (the same setting that decides whether the authenticating proxy's user header
is believed); from anyone else such a header is a claim anybody can type, and the peer stands.

Which header: ``X-Real-IP`` first. The shipped nginx (deploy/nginx/hjertekom/proxy.conf) always
sets it to ``$remote_addr``, replacing whatever the browser sent, so it names exactly the machine
that talked to nginx. Without it, ``X-Forwarded-For`` is read from the right: entries added by
trusted proxies are skipped and the right-most untrusted entry is the client (entries further left
were written by the client itself and prove nothing). A value that is not an IP address means a
broken or hostile proxy set-up: the peer is used instead, never the text.

Used for the login throttle and lockout (per-address counters), the audit rows of logins and
refusals, and the log lines that name an address.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from tornado import httputil, web

REAL_IP_HEADER = "X-Real-IP"
FORWARDED_FOR_HEADER = "X-Forwarded-For"
_MAX_HEADER = 1000  # a longer header is not what nginx sends; the peer stands


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``text`` (IPv4-mapped IPv6 as IPv4), or None if it is not exactly one address."""
    if not text:
        return None
    try:
        found = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def is_trusted_proxy(peer: str | None, trusted_proxies: Iterable[str]) -> bool:
    """The peer is one of the configured proxies (compared as addresses, so ``::ffff:10.0.0.5``
    of a dual-stack socket is ``10.0.0.5``; an entry that is no address matches nothing)."""
    address = _ip(peer)
    return address is not None and any(_ip(entry) == address for entry in trusted_proxies)


def address_from(peer: str | None, headers: Mapping[str, str], trusted_proxies: Iterable[str]) -> str | None:
    """The client's address of a request from ``peer`` with ``headers`` (see the module doc)."""
    trusted = tuple(trusted_proxies)
    if not is_trusted_proxy(peer, trusted):
        return peer
    real_ip = headers.get(REAL_IP_HEADER)
    if real_ip is not None:
        found = _ip(real_ip) if len(real_ip) <= _MAX_HEADER else None
        return str(found) if found is not None else peer
    forwarded = headers.get(FORWARDED_FOR_HEADER)
    if forwarded is None or len(forwarded) > _MAX_HEADER:
        return peer
    for entry in reversed(forwarded.split(",")):
        found = _ip(entry)
        if found is None:
            return peer            # garbage where a hop should be: believe nothing of it
        if not is_trusted_proxy(str(found), trusted):
            return str(found)
    return peer                    # only proxies in the chain: the request is the proxy's own


def client_address(handler: web.RequestHandler) -> str | None:
    """The client's address of ``handler``'s request, with the server's ``trusted_proxies``
    (the identity provider's, set by ``hjertekom serve`` from the configuration)."""
    provider = handler.settings.get("identity_provider")
    trusted = getattr(provider, "trusted_proxies", ())
    return request_address(handler.request, trusted)


def request_address(request: httputil.HTTPServerRequest, trusted_proxies: Iterable[str]) -> str | None:
    """``address_from`` for a tornado request."""
    return address_from(request.remote_ip, request.headers, trusted_proxies)
