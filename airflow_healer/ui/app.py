"""The healer's FastAPI app, mounted by the plugin at ``/healer`` on Airflow's API server.

Airflow gives a plugin app no authentication of its own: every route here depends on Airflow's
security dependencies (read rights on DAGs to read). The Healer page grows here.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.store import open_store
from airflow_healer.exceptions import StoreError


def create_app(config: HealerConfig | None = None) -> FastAPI:
    app = FastAPI(title="airflow_healer", description="Self-healing for Airflow: incidents and actions.")
    read = [Depends(requires_access_dag("GET"))]

    def store():
        return open_store((config or HealerConfig.load()).store_url)

    @app.get("/api/incidents", dependencies=read)
    def list_incidents(
        dag_id: str | None = None, status: str | None = None, limit: int = Query(100, ge=1, le=1000)
    ) -> dict[str, Any]:
        try:
            incidents = store().list_incidents(dag_id=dag_id, status=status, limit=limit)
        except StoreError as exc:
            raise HTTPException(503, f"The healer store is unavailable: {exc}") from exc
        return {"incidents": [i.as_dict() for i in incidents], "total": len(incidents)}

    @app.get("/api/incidents/{incident_id}", dependencies=read)
    def get_incident(incident_id: str) -> dict[str, Any]:
        try:
            incident = store().get_incident(incident_id)
        except StoreError as exc:
            raise HTTPException(503, f"The healer store is unavailable: {exc}") from exc
        if incident is None:
            raise HTTPException(404, f"No incident {incident_id}.")
        return incident.as_dict()

    return app
