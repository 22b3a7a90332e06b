"""The Healer page's routes under FastAPI's TestClient, with Airflow's real simple auth manager and JWTs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from airflow_healer.core.config import HealerConfig

SIMPLE = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@pytest.fixture
def auth(airflow_home, monkeypatch):
    """Airflow's simple auth manager, initialised; ``auth.token(role)`` signs a JWT for a user with that role
    (viewer: read; user: edit DAGs; admin: everything)."""
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE)
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "healer-test-secret-" + "0" * 64)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "ana:viewer,ed:user,root:admin")
    from airflow.api_fastapi import app as airflow_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    monkeypatch.setattr(airflow_app._AuthManagerState, "instance", None)
    manager = airflow_app.init_auth_manager()
    # Airflow checks each token against its revoked_token table: a metadata database of the test's own.
    from airflow import settings
    from airflow.models.revoked_token import RevokedToken
    from sqlalchemy import create_engine
    from sqlalchemy.orm import scoped_session, sessionmaker

    engine = create_engine(f"sqlite:///{airflow_home / 'airflow.db'}")
    RevokedToken.__table__.create(engine, checkfirst=True)
    monkeypatch.setattr(settings, "Session", scoped_session(sessionmaker(bind=engine)))

    class Auth:
        names = {"viewer": "ana", "user": "ed", "admin": "root", "nobody": "nemo"}

        def user(self, role):
            """``nobody``: signed in, with no role at all."""
            return SimpleAuthManagerUser(username=self.names[role], role=None if role == "nobody" else role)

        def token(self, role):
            return manager.generate_jwt(self.user(role))

        def bearer(self, role):
            return {"Authorization": f"Bearer {self.token(role)}"}

        def session(self, client, role):
            """A browser session: the UI's _token cookie, and the page's CSRF token to send back."""
            from airflow_healer.ui.common import CSRF_HEADER, csrf_token

            client.cookies.set("_token", self.token(role))
            return {CSRF_HEADER: csrf_token(self.user(role))}

    return Auth()


@pytest.fixture
def ui_config(airflow_home, tmp_path) -> HealerConfig:
    return HealerConfig.load().replace(store_url=f"sqlite:///{tmp_path / 'ui.db'}")


@pytest.fixture
def client(auth, ui_config):
    from airflow_healer.ui.app import create_app

    with TestClient(create_app(ui_config), base_url="http://testserver/healer", root_path="/healer") as c:
        yield c
