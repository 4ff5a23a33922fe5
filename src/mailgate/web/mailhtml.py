"""Received HTML made safe to look at: nh3 cleans it, remote images wait for a click.

The cleaned HTML goes into an ``<iframe sandbox srcdoc>`` without ``allow-scripts``
(templates/thread.html), so even HTML nh3 let through cannot run a script or reach
the console's origin; the page's CSP (inherited by the srcdoc document) blocks
remote images as well until the agent asks for them.
"""

from __future__ import annotations

import nh3

_LOCAL = ("data:", "cid:")


def clean(html: str, *, remote_images: bool = False) -> tuple[str, int]:
    """The sanitised HTML and how many remote images it holds (blocked unless asked)."""
    blocked = 0

    def keep(element: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if element == "img" and attribute == "src" and not value.lower().startswith(_LOCAL):
            blocked += 1
            return value if remote_images else None
        return value

    cleaned = nh3.clean(
        html,
        attribute_filter=keep,
        attributes={**nh3.ALLOWED_ATTRIBUTES, "img": {"src", "alt", "width", "height"}},
        url_schemes={"http", "https", "mailto", "data", "cid"},
    )
    return cleaned, blocked
