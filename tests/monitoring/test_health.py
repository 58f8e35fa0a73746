# No django_db mark: any query here would fail the test, so health provably touches
# no database.
def test_health_answers_200_json_without_authentication(client):
    response = client.get("/monitoring/health/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_health_refuses_writes_in_the_error_shape(client):
    response = client.post("/monitoring/health/")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"
