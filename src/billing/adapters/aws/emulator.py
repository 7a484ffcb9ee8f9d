"""Reading the local AWS emulator's own records (moto's state dump): what SES 'sent'."""

from __future__ import annotations

from typing import Any

import aiohttp


async def fetch_sent_emails(endpoint: str) -> list[dict[str, Any]]:
    """The emails the emulator's SES accepted, oldest first: {id, source, destinations, subject, body}."""
    async with aiohttp.ClientSession() as http, http.get(f"{endpoint}/moto-api/data.json") as response:
        response.raise_for_status()
        state = await response.json(content_type=None)
    return list(state.get("ses", {}).get("Message", []))
