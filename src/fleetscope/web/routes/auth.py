"""POST /api/v1/auth/login and /logout: a login session's token, answered and set as the
dashboard's HttpOnly cookie (web/services.py SESSION_COOKIE); logout ends the session.

Logins are throttled per username and per address (query/auth.py): a throttled attempt is a
429 with Retry-After, whatever the password, and the wait is bounded (store/throttle.py), so
nobody can lock another user out for good. A disabled user or a deactivated tenant gets the
same 401 as a wrong password."""

from fastapi import APIRouter, HTTPException, Request, Response

from fleetscope.web.deps import client_address, read_router
from fleetscope.web.schemas import LoginRequest, LoginResponse
from fleetscope.web.services import SESSION_COOKIE, ReadServices


def build_auth_router(services: ReadServices) -> APIRouter:
    router = read_router(services)

    @router.post("/auth/login", tags=["auth"])
    def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
        attempt = services.auth.attempt_login(body.username, body.password, client_address(request))
        if attempt.retry_after > 0:
            raise HTTPException(
                429,
                "too many failed logins: wait before trying again",
                headers={"Retry-After": str(attempt.retry_after)},
            )
        if attempt.token is None:
            raise HTTPException(401, "wrong username or password")
        response.set_cookie(
            SESSION_COOKIE,
            attempt.token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return LoginResponse(token=attempt.token)

    @router.post("/auth/logout", tags=["auth"], status_code=204)
    def logout(request: Request, response: Response) -> None:
        found = services.session(request)
        if found is not None:
            services.auth.logout(found[1], client_address(request))
        response.delete_cookie(SESSION_COOKIE, path="/")

    return router
