"""What every route of the Healer page shares: who the user is and may do, the store, the templates.

Airflow does not protect a plugin's app: every route here depends on :func:`reader` (read rights on
DAGs) and every state-changing one on :func:`editor` (edit rights on the DAG it changes) plus
:func:`csrf`. The user comes from Airflow's own security dependency: the ``Authorization: Bearer``
header of an API client, or the ``_token`` cookie Airflow's UI sets for its pages.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.store import Store, open_store

HERE = Path(__file__).resolve().parent
#: The header a page sends with every state-changing request (cookie sessions only).
CSRF_HEADER = "X-Healer-CSRF"
#: Rows a page or an API listing returns at most.
MAX_PAGE = 200


@lru_cache(maxsize=1)
def templates() -> Environment:
    # Autoescape everywhere: error texts and logs are attacker-controlled.
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["short"] = lambda text, n=120: (text or "")[:n] + ("..." if text and len(text) > n else "")
    return env


def config() -> HealerConfig:
    return HealerConfig.load()


def store(cfg: Annotated[HealerConfig, Depends(config)]) -> Store:
    return open_store(cfg.store_url)


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def can(user: Any, method: str, dag_id: str | None = None) -> bool:
    """May ``user`` do ``method`` (GET, PUT ...) on the DAG ``dag_id`` (on DAGs at all, when None)?"""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return bool(_auth_manager().is_authorized_dag(method=method, details=DagDetails(id=dag_id), user=user))


def reader(user: Annotated[Any, Depends(get_user)]) -> Any:
    """The signed-in user, who may read DAGs: 401 without a login, 403 without read rights."""
    if not can(user, "GET"):
        raise HTTPException(403, "You may not read DAGs, so you may not read the healer's pages.")
    return user


def editor(user: Any, dag_id: str | None) -> None:
    """403 unless ``user`` may edit ``dag_id`` (every DAG, when None: the healer's own settings)."""
    if not can(user, "PUT", dag_id):
        what = f"the DAG {dag_id!r}" if dag_id else "every DAG (the healer's settings)"
        raise HTTPException(403, f"You need edit rights on {what} to do this.")


def user_name(user: Any) -> str:
    return str(user.get_name() or user.get_id())


def _secret() -> bytes:
    from airflow.configuration import conf

    secret = conf.get("api_auth", "jwt_secret", fallback="") or conf.get("api", "secret_key", fallback="")
    return (secret or _process_secret()).encode()


@lru_cache(maxsize=1)
def _process_secret() -> str:
    return os.urandom(16).hex()


def csrf_token(user: Any) -> str:
    """The token a page embeds and sends back: bound to the user, signed with the API's secret."""
    return hmac.new(_secret(), f"healer-csrf:{user.get_id()}".encode(), hashlib.sha256).hexdigest()


def csrf(request: Request, user: Annotated[Any, Depends(reader)]) -> Any:
    """Refuse a cross-site request: a session that rides on the ``_token`` cookie must send the page's
    token in :data:`CSRF_HEADER` (another site can neither read it nor set the header); an API client
    that sends its own bearer token is not exposed to cross-site requests."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return user
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, csrf_token(user)):
        raise HTTPException(403, f"Missing or wrong {CSRF_HEADER} header: reload the page and try again.")
    return user


Reader = Annotated[Any, Depends(reader)]
Writer = Annotated[Any, Depends(csrf)]
StoreDep = Annotated[Store, Depends(store)]


def page(request: Request, template: str, user: Any, *, title: str, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    """Render one of the Healer pages with the navigation, the user and the CSRF token."""
    html = templates().get_template(template).render(
        title=title, user=user_name(user), csrf=csrf_token(user), csrf_header=CSRF_HEADER,
        base=str(request.scope.get("root_path", "")).rstrip("/"), path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)
