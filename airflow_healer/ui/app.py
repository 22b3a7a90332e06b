"""The healer's FastAPI app, mounted by the plugin at ``/healer`` on Airflow's API server.

Pages (server-rendered, escaped), the JSON API under ``/healer/api/`` they use (in ``/healer/openapi.json``)
and the static assets they need: nothing comes from the internet. Airflow gives a plugin app no
authentication of its own: every route depends on :mod:`airflow_healer.ui.common`'s security.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from airflow_healer.core.config import HealerConfig
from airflow_healer.exceptions import StoreError
from airflow_healer.ui.common import HERE, config, templates


def create_app(healer_config: HealerConfig | None = None) -> FastAPI:
    from airflow_healer.ui import knowledge, model, pages

    app = FastAPI(title="airflow_healer", version="1", openapi_url="/openapi.json", docs_url="/docs",
                  redoc_url=None, description="The Healer page and its API: incidents, proposals, analytics.")
    if healer_config is not None:
        app.dependency_overrides[config] = lambda: healer_config
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages, knowledge, model):
        app.include_router(module.api)
        app.include_router(module.router)

    @app.exception_handler(StoreError)
    def store_down(request: Request, exc: StoreError) -> JSONResponse | HTMLResponse:
        message = f"The healer store is unavailable: {exc}"
        hint = "Check [healer] store_url and that the database is reachable; the healer spools failures meanwhile."
        if _wants_json(request):
            return JSONResponse({"detail": message, "hint": hint}, status_code=503)
        html = templates().get_template("error.html").render(
            title="Store unavailable", message=message, hint=hint, user="", csrf="", csrf_header="",
            base=str(request.scope.get("root_path", "")).rstrip("/"), path=request.url.path)
        return HTMLResponse(html, status_code=503)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse | HTMLResponse:
        if _wants_json(request) or exc.status_code == 401:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        html = templates().get_template("error.html").render(
            title=f"{exc.status_code}", message=str(exc.detail), hint="", user="", csrf="", csrf_header="",
            base=str(request.scope.get("root_path", "")).rstrip("/"), path=request.url.path)
        return HTMLResponse(html, status_code=exc.status_code)

    return app


def _wants_json(request: Request) -> bool:
    return "/api/" in request.url.path or "application/json" in request.headers.get("accept", "")
