"""Nobody can open an account by themselves."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_sign_up_is_closed(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "intrus@example.org", "password1": "x-Tr3s-long!", "password2": "x-Tr3s-long!"},
    )
    assert response.status_code == 200
    assert "signup_closed" in [t.name.split("/")[-1].split(".")[0] for t in response.templates]
    assert not get_user_model().objects.filter(email="intrus@example.org").exists()
