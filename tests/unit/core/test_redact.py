import pytest

from airflow_healer.core.redact import redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("could not connect to postgresql://etl:Sup3rS3cret@db.internal:5432/warehouse", "Sup3rS3cret"),
        ("headers={'Authorization': 'Bearer abcdef0123456789xyz'}", "abcdef0123456789xyz"),
        ("login failed: password=hunter2-long user=etl", "hunter2-long"),
        ('{"client_secret": "s3cr3t-value-123"}', "s3cr3t-value-123"),
        ("key AIzaSyA1234567890abcdefghijklmnopqrstuv rejected", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
        ("token ya29.a0AfH6SMBx3k2Lz9QwErTyUiOpAsDfGhJkL expired", "ya29.a0AfH6SMBx3k2Lz9QwErTyUiOpAsDfGhJkL"),
        ("aws AKIAIOSFODNN7EXAMPLE denied", "AKIAIOSFODNN7EXAMPLE"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.SflKxwRJSMeKKF2QT4fwpM denied", "SflKxwRJSMeKKF2QT4fwpM"),
        ("notify jane.doe@example.com failed", "jane.doe@example.com"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
    ],
)
def test_secrets_and_personal_data_are_masked(text, secret):
    assert secret not in redact(text)


def test_service_accounts_and_the_error_itself_stay():
    text = "403 etl-runner@my-proj.iam.gserviceaccount.com does not have bigquery.tables.get"
    assert redact(text) == text
