"""Credential sources: files a Vault agent or CSI driver keeps rotated, and Secret Manager (mocked at its client)."""

import json

import pytest

from airflow_healer.exceptions import ConfigurationError, CredentialError
from airflow_healer.hooks.credentials import parse_sources, read_secret


def test_a_files_text_is_the_new_password(tmp_path):
    secret = tmp_path / "warehouse"
    secret.write_text("s3cr3t-rotated\n")
    assert read_secret(f"file://{secret}") == {"password": "s3cr3t-rotated"}


def test_a_json_file_sets_the_fields_it_names(tmp_path):
    secret = tmp_path / "warehouse.json"
    secret.write_text(json.dumps({"login": "etl", "password": "p", "port": "5433", "extra": {"sslmode": "require"}}))
    assert read_secret(f"file://{secret}") == {"login": "etl", "password": "p", "port": 5433,
                                                "extra": '{"sslmode": "require"}'}


@pytest.mark.parametrize("content, says", [
    ("", "is empty"),
    ('{"pasword": "typo"}', "fields a connection does not have: pasword"),
    ("x" * 70_000, "over 65536 bytes"),
])
def test_a_bad_secret_file_is_a_clear_error(tmp_path, content, says):
    secret = tmp_path / "s"
    secret.write_text(content)
    with pytest.raises(CredentialError, match=says):
        read_secret(f"file://{secret}")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CredentialError, match="Cannot read the secret file"):
        read_secret(f"file://{tmp_path / 'gone'}")


@pytest.mark.parametrize("raw, says", [
    ("not json", "not JSON"),
    ('["warehouse"]', "JSON object"),
    ('{"warehouse": "vault://kv/warehouse"}', "not a source I can read"),
])
def test_bad_credential_sources_are_clear_errors(raw, says):
    with pytest.raises(ConfigurationError, match=says):
        parse_sources(raw)


@pytest.fixture
def gcp_conn(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": "acme"}}))


def test_secret_manager_is_read_through_the_providers_hook(mocker, airflow_home, gcp_conn):
    from google.cloud.secretmanager_v1 import AccessSecretVersionResponse, SecretPayload

    mocker.patch("airflow.providers.google.common.hooks.base_google.GoogleBaseHook.get_credentials",
                 return_value=mocker.sentinel.credentials)
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient

    client = mocker.patch("airflow.providers.google.cloud.hooks.secret_manager.SecretManagerServiceClient")
    # Only the network call is mocked; the resource names are built by the real client's helpers.
    client.return_value.secret_version_path.side_effect = SecretManagerServiceClient.secret_version_path
    client.secret_version_path.side_effect = SecretManagerServiceClient.secret_version_path
    client.return_value.access_secret_version.return_value = AccessSecretVersionResponse(
        payload=SecretPayload(data=b'{"password": "from-gsm"}'))
    assert read_secret("gcp-secret-manager://projects/acme/secrets/partner-api") == {"password": "from-gsm"}
    call = client.return_value.access_secret_version.call_args
    assert call.kwargs["request"] == {"name": "projects/acme/secrets/partner-api/versions/latest"}
    read_secret("gcp-secret-manager://projects/acme/secrets/partner-api/versions/7")
    assert client.return_value.access_secret_version.call_args.kwargs["request"] == {
        "name": "projects/acme/secrets/partner-api/versions/7"}


def test_a_secret_manager_refusal_is_a_credential_error(mocker, airflow_home, gcp_conn):
    from google.api_core.exceptions import PermissionDenied

    mocker.patch("airflow.providers.google.common.hooks.base_google.GoogleBaseHook.get_credentials",
                 return_value=mocker.sentinel.credentials)
    client = mocker.patch("airflow.providers.google.cloud.hooks.secret_manager.SecretManagerServiceClient")
    client.return_value.access_secret_version.side_effect = PermissionDenied("secretmanager.versions.access")
    with pytest.raises(CredentialError, match="Secret Manager refused"):
        read_secret("gcp-secret-manager://projects/acme/secrets/partner-api")
