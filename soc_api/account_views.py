"""Login sessions as the API shows them (to their owner and to system admins)."""
from __future__ import annotations

from soc_api.schemas.auth import SessionOut
from soc_core.clock import as_utc, as_utc_or_none
from soc_core.models import LoginToken


def session_out(login: LoginToken, current_id: int | None) -> SessionOut:
    return SessionOut(id=login.id, created_at=as_utc(login.created_at), last_used_at=as_utc_or_none(login.last_used_at),
                      expires_at=as_utc(login.expires_at), address=login.address, user_agent=login.user_agent,
                      current=login.id == current_id)
