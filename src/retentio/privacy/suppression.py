"""The suppression list: addresses never to contact again, stored only as keyed HMACs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.privacy.addresses import address_hmac
from retentio.store.tables import Suppression

__all__ = ["add_suppression", "is_suppressed", "suppress"]


def suppress(
    session: Session,
    secret: bytes,
    *,
    channel: str,
    address: str,
    reason: str,
    region: str | None = None,
) -> bool:
    """Add ``address`` to the list (committed); False when it was already there."""
    digest = address_hmac(secret, channel, address, region)
    if not add_suppression(session, channel, digest, reason):
        return False
    try:
        session.commit()
    except IntegrityError:  # added at the same moment by another request: the same outcome
        session.rollback()
        return False
    return True


def add_suppression(session: Session, channel: str, digest: str, reason: str) -> bool:
    """Add the address with HMAC ``digest`` to the session (not committed); False when it is
    on the list already."""
    if _find(session, channel, digest) is not None:
        return False
    session.add(Suppression(channel=channel, address_hmac=digest, reason=reason))
    return True


def is_suppressed(
    session: Session, secret: bytes, *, channel: str, address: str, region: str | None = None
) -> bool:
    """Whether ``address`` (however it is typed) is on the list."""
    return _find(session, channel, address_hmac(secret, channel, address, region)) is not None


def _find(session: Session, channel: str, digest: str) -> Suppression | None:
    query = select(Suppression).where(
        Suppression.channel == channel, Suppression.address_hmac == digest
    )
    return session.scalars(query).one_or_none()
