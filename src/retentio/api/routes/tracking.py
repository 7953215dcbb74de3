"""The open pixel and the click redirect of tracked e-mail (see
:mod:`retentio.campaigns.tracking`): no login, no cookie, nothing about the person in the URL
but a signed delivery id.

``GET /t/o/{token}`` always answers the GIF (a bad token too: a broken image helps nobody).
``GET /t/c/{token}`` redirects (302) to the URL the signed token carries, and to nothing else:
a token that is not ours answers a plain 404 page. A ``HEAD`` (link checkers) redirects
without counting.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retentio.api.deps import DbSession, client_address
from retentio.campaigns.tracking import PIXEL_GIF, click_target, record_click, record_open
from retentio.core.clock import SystemClock
from retentio.core.signing import Signer

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


def _signer(request: Request) -> Signer | None:
    signer: Signer | None = request.app.state.signer
    return signer


@router.get("/t/o/{token}")
def open_pixel(request: Request, session: DbSession, token: str) -> Response:
    """The 1x1 GIF; the open is recorded (a machine's apart)."""
    signer = _signer(request)
    if signer is not None:
        with request.app.state.write_lock:
            record_open(
                session,
                signer,
                token,
                user_agent=request.headers.get("user-agent"),
                address=client_address(request),
                now=SystemClock().now(),
            )
    return Response(PIXEL_GIF, media_type="image/gif", headers=_NO_STORE)


@router.api_route("/t/c/{token}", methods=["GET", "HEAD"])
def click(request: Request, session: DbSession, token: str) -> Response:
    """Redirect to the link of the message; the click is recorded (a machine's apart)."""
    signer = _signer(request)
    url = None
    if signer is not None and request.method == "HEAD":
        target = click_target(signer, token)
        url = target[1] if target is not None else None
    elif signer is not None:
        with request.app.state.write_lock:
            url = record_click(
                session,
                signer,
                token,
                user_agent=request.headers.get("user-agent"),
                address=client_address(request),
                now=SystemClock().now(),
            )
    if url is None:
        page = "<!doctype html><title>Not found</title><p>This link is not valid.</p>"
        return HTMLResponse(page, status_code=404, headers=_NO_STORE)
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)
