"""POST /api/v1/auth/login and /logout: a login session's token, answered and set as the
dashboard's HttpOnly cookie (web/services.py SESSION_COOKIE); logout ends it."""

from fastapi import APIRouter, HTTPException, Request, Response

from fleetscope.web.deps import read_router
from fleetscope.web.schemas import LoginRequest, LoginResponse
from fleetscope.web.services import SESSION_COOKIE, ReadServices


def build_auth_router(services: ReadServices) -> APIRouter:
    router = read_router(services)

    @router.post("/auth/login", tags=["auth"])
    def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
        token = services.auth.login(body.username, body.password)
        if token is None:
            raise HTTPException(401, "wrong username or password")
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return LoginResponse(token=token)

    @router.post("/auth/logout", tags=["auth"], status_code=204)
    def logout(request: Request, response: Response) -> None:
        found = services.session(request)
        if found is not None:
            services.auth.logout(found[1])
        response.delete_cookie(SESSION_COOKIE, path="/")

    return router
