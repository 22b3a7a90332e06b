"""Where a connection's fresh secret lives: ``[healer] credential_sources``.

A JSON object from Airflow connection id to a source::

    AIRFLOW__HEALER__CREDENTIAL_SOURCES='{"warehouse": "file:///var/run/secrets/warehouse",
        "partner_api": "gcp-secret-manager://projects/acme/secrets/partner-api"}'

- ``file:///path``: the file's text is the new password; a JSON object sets the connection fields it
  names (``login``, ``password``, ``host``, ``port``, ``schema``, ``extra``). This is what a Vault agent or
  a CSI secrets driver keeps rotated.
- ``gcp-secret-manager://projects/P/secrets/S[/versions/V]``: the latest version by default, read
  through the google provider's Secret Manager hook (credentials from ``[healer] gcp_conn_id``); its
  payload is read like a file's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from airflow_healer.exceptions import ConfigurationError, CredentialError

FIELDS = ("login", "password", "host", "port", "schema", "extra")
#: Bytes of a secret that are read: a secret is small; a huge file is a mistake.
MAX_SECRET_BYTES = 64 * 1024
_GSM = re.compile(r"^gcp-secret-manager://projects/(?P<project>[^/]+)/secrets/(?P<secret>[^/]+)"
                  r"(?:/versions/(?P<version>[^/]+))?/?$")


def parse_sources(raw: str) -> dict[str, str]:
    """``[healer] credential_sources`` as a dict; a clear error when it is not a JSON object of strings."""
    if not raw.strip():
        return {}
    try:
        sources = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"[healer] credential_sources is not JSON ({exc}); write an object such as "
                                 '{"warehouse": "file:///var/run/secrets/warehouse"}.') from exc
    if not isinstance(sources, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
        raise ConfigurationError("[healer] credential_sources must be a JSON object from connection id to a "
                                 "source URL (file:///... or gcp-secret-manager://projects/P/secrets/S).")
    for conn_id, url in sources.items():
        if not (url.startswith("file://") or _GSM.match(url)):
            raise ConfigurationError(f"[healer] credential_sources: {conn_id!r} -> {url!r} is not a source I can "
                                     "read; use file:///path or gcp-secret-manager://projects/P/secrets/S[/versions/V].")
    return sources


def fields_from_secret(text: str, source: str) -> dict[str, Any]:
    """A secret's payload as connection fields: a JSON object names them, anything else is the password."""
    stripped = text.strip()
    if not stripped:
        raise CredentialError(f"The secret at {source} is empty.")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(FIELDS))
            if unknown:
                raise CredentialError(f"The secret at {source} names fields a connection does not have: "
                                      f"{', '.join(unknown)} (known: {', '.join(FIELDS)}).")
            out = dict(data)
            if "extra" in out and not isinstance(out["extra"], str):
                out["extra"] = json.dumps(out["extra"])
            if "port" in out and out["port"] is not None:
                out["port"] = int(out["port"])
            return out
    return {"password": stripped}


def read_file_secret(url: str) -> dict[str, Any]:
    path = Path(unquote(urlparse(url).path))
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise CredentialError(f"Cannot read the secret file {path}: {exc}") from exc
    if len(data) > MAX_SECRET_BYTES:
        raise CredentialError(f"The secret file {path} is over {MAX_SECRET_BYTES} bytes: not a secret.")
    return fields_from_secret(data.decode("utf-8", errors="replace"), str(path))


def read_gcp_secret(url: str, gcp_conn_id: str = "google_cloud_default") -> dict[str, Any]:
    m = _GSM.match(url)
    if not m:
        raise CredentialError(f"{url} is not gcp-secret-manager://projects/P/secrets/S[/versions/V].")
    from airflow.providers.google.cloud.hooks.secret_manager import GoogleCloudSecretManagerHook

    hook = GoogleCloudSecretManagerHook(gcp_conn_id=gcp_conn_id)
    try:
        response = hook.access_secret(secret_id=m.group("secret"), project_id=m.group("project"),
                                      secret_version=m.group("version") or "latest")
    except Exception as exc:  # noqa: BLE001 - google.api_core errors, auth errors: translated here
        raise CredentialError(f"Secret Manager refused {url}: {exc}") from exc
    payload = response.payload.data
    if len(payload) > MAX_SECRET_BYTES:
        raise CredentialError(f"The secret {url} is over {MAX_SECRET_BYTES} bytes: not a secret.")
    return fields_from_secret(payload.decode("utf-8", errors="replace"), url)


def read_secret(url: str, *, gcp_conn_id: str = "google_cloud_default") -> dict[str, Any]:
    """The connection fields the source at ``url`` holds now."""
    if url.startswith("file://"):
        return read_file_secret(url)
    return read_gcp_secret(url, gcp_conn_id)
