"""Helpers for the browser tests (Playwright driving Debian's Chromium)."""

from __future__ import annotations

from typing import Any


def login(page: Any, server: str, world: Any, persona: str) -> None:
    port = server.rsplit(":", 1)[1]
    page.goto(f"http://{world.host}:{port}/login/")
    page.fill("#id_username", world.persona(persona).username)
    from tests.conftest import PASSWORD

    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def sideways_overflow(page: Any) -> int:
    """How many pixels the page scrolls sideways (0 when it fits the viewport)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))
