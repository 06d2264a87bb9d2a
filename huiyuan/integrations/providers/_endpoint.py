from __future__ import annotations

from urllib.parse import urlsplit


def split_endpoint(url: str, default_host: str) -> tuple[str, str]:
    """(protocol, host[:port]) from a setting such as ``https://dysmsapi.aliyuncs.com`` or
    ``http://127.0.0.1:9000`` (a test fake). The vendors' SDKs want the two apart; https is the default."""
    if not url:
        return "https", default_host
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return parts.scheme or "https", parts.netloc or default_host
