"""POST /api/v1/auth/token: the OAuth2 password flow, answering with a bearer token."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm

from soc_api.auth import Context, DbSession
from soc_api.schemas.auth import TokenOut
from soc_core.audit import record_audit
from soc_core.repositories import authenticate_user, issue_login_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, summary="Exchange username and password for a bearer token")
def login_for_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], context: Context, session: DbSession) -> TokenOut:
    user = authenticate_user(session, form.username, form.password)
    if user is None:
        record_audit(session, context.clock, form.username[:64], "auth.failed", "user", form.username[:64])
        session.commit()
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    lifetime = timedelta(hours=context.settings.api.session_hours)
    token = issue_login_token(session, context.clock, user, lifetime)
    session.commit()
    return TokenOut(access_token=token, expires_in=int(lifetime.total_seconds()))
