"""Server-rendered pages: `/login` (sign-in and invites) and `/platform` (the staff console).

The HTML is static; a small script per page (in /static, no build step) talks to the JSON API.
Each page is served with a strict Content-Security-Policy: scripts and styles from this origin
only, no inline code, nothing from elsewhere, no framing.
"""

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from web.security import page_headers

router = APIRouter(include_in_schema=False)
PAGES = Path(__file__).resolve().parent.parent / "pages"
STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def _page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def html_page(name: str) -> HTMLResponse:
    """A page from web/pages, with the strict security headers every page carries."""
    response = HTMLResponse(_page(name))
    page_headers(response)
    return response


@router.get("/login")
async def login_page() -> HTMLResponse:
    return html_page("login.html")


@router.get("/platform")
async def platform_page() -> HTMLResponse:
    return html_page("platform.html")
