"""Airflow's REST API from the triggerer's event loop: a bearer token, re-authentication, clear refusals."""

from __future__ import annotations

from typing import Any

import httpx

from airflow_healer.hooks.airflow_api import AirflowApiHook


class Refused(Exception):
    """The API refused the healer's credentials or rights: polling again will not help."""


class AsyncAirflowApi:
    """``async with AsyncAirflowApi(conn_id) as api: await api.get(path, params)``.

    :param airflow_api_conn_id: the connection with the API's address and credentials (see
        :class:`AirflowApiHook`); read through the triggerer's async connection lookup.
    """

    def __init__(self, airflow_api_conn_id: str, *, timeout: float = 30.0):
        self.conn_id = airflow_api_conn_id
        self.timeout = timeout
        self.base_url = ""
        self._settings: dict[str, str] = {}
        self._client: httpx.AsyncClient | None = None
        self._token: str | None = None

    async def __aenter__(self) -> AsyncAirflowApi:
        self._settings = await AirflowApiHook(self.conn_id).async_settings()
        self.base_url = self._settings["base_url"]
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def get(self, path: str, params: dict[str, Any], *, forbidden: str = "") -> Any:
        """GET ``path``; raises :class:`Refused` (bad credentials, 403 with ``forbidden`` as the message),
        ``httpx.HTTPError`` for what may pass (server errors, a dropped connection)."""
        assert self._client is not None, "use AsyncAirflowApi in `async with`"
        for _ in range(2):
            if self._token is None:
                self._token = await self._authenticate()
            response = await self._client.get(path, headers={"Authorization": f"Bearer {self._token}"},
                                              params=params)
            if response.status_code == 401:  # the token expired: one new one
                self._token = None
                continue
            if response.status_code == 403:
                raise Refused(forbidden or f"The '{self.conn_id}' user may not read {path} (403).")
            response.raise_for_status()
            return response.json()
        raise httpx.HTTPStatusError("the API keeps refusing fresh tokens", request=response.request,
                                    response=response)

    async def _authenticate(self) -> str:
        assert self._client is not None
        response = await self._client.post("/auth/token", json={"username": self._settings["username"],
                                                                 "password": self._settings["password"]})
        if response.status_code in (400, 401, 403):
            raise Refused(f"Airflow refused the healer's credentials ({response.status_code}): check the login "
                          f"and password of the '{self.conn_id}' connection.")
        response.raise_for_status()
        return response.json()["access_token"]
