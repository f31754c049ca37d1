"""FlowGrid's two calls to Slack's Web API: check a bot token, and reply in a thread.

Both go to the deployment's `FLOWGRID_SLACK_API_URL` (Slack's own by default), never to an
address a workspace chose. Like an integration call (tools/egress.py), each request has an
overall deadline, reads at most 16 KiB of answer, follows no redirect and ignores proxy
settings. The bot token travels only in the Authorization header and is never logged.
"""

import asyncio
import json
from typing import Any

import httpx

from agent.slack import MENTION

TOTAL_SECONDS = 10.0
MAX_ANSWER_BYTES = 16 * 1024


class SlackRefused(Exception):
    """Slack answered, but not `ok` (or not at all in time)."""


async def call(api_url: str, method: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """One Web API call; its `ok` answer, or SlackRefused."""
    try:
        async with (
            asyncio.timeout(TOTAL_SECONDS),
            httpx.AsyncClient(follow_redirects=False, trust_env=False) as client,
            client.stream(
                "POST",
                api_url.rstrip("/") + "/" + method,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            raw = b""
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > MAX_ANSWER_BYTES:
                    raise SlackRefused(f"{method}: the answer was too large")
    except (TimeoutError, httpx.HTTPError) as failed:
        raise SlackRefused(
            f"{method}: Slack could not be reached ({type(failed).__name__})"
        ) from None
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise SlackRefused(f"{method}: HTTP {response.status_code}, {error or 'no answer'}")
    return answer


async def team_of(api_url: str, token: str) -> str:
    """The Slack workspace a bot token belongs to, as Slack says (`auth.test`)."""
    answer = await call(api_url, "auth.test", token, {})
    team = answer.get("team_id")
    if not isinstance(team, str) or not team:
        raise SlackRefused("auth.test: no team_id in the answer")
    return team


async def reply(api_url: str, token: str, channel: str, thread: str, text: str) -> None:
    """Post Nexus's reply in a Slack thread, as plain text Slack will not expand.

    Record text may hold links or `<!channel>`: everything is escaped, and unfurling is off,
    so a reply never makes Slack fetch an address on its own or ping a whole channel.
    """
    shown = text.replace(MENTION, "@Nexus")
    shown = shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = {
        "channel": channel,
        "thread_ts": thread,
        "text": shown,
        "unfurl_links": False,
        "unfurl_media": False,
    }
    await call(api_url, "chat.postMessage", token, body)
