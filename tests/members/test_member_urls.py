"""Every URL of the member area, for every method it answers: an anonymous visitor is sent to
sign in, and a contact of organisation A who puts organisation B's identifiers in it gets 403 or
404, and nothing of B's changes."""

from urllib.parse import urlparse

import pytest
from django.urls import reverse

from members.services import contact_login_ensure
from tests.member_urls import member, member_urls, post_data, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def organisation_b():
    return member("Organisation B", "b@example.org")


def test_an_anonymous_visitor_is_sent_to_sign_in_from_every_member_url(client, organisation_b):
    _contact, term, colleague = organisation_b
    before = state(term.membership.organisation)
    for method, url in member_urls(term, colleague):
        response = getattr(client, method)(url, post_data(term, colleague))
        assert response.status_code == 302, (method, url, response.status_code)
        # The sign-in page, or the code request page for a renewal link (its e-mail filled in).
        location = urlparse(response["Location"])
        assert location.path.startswith(reverse("account_login")), (method, url, location)
    assert state(term.membership.organisation) == before


def test_a_contact_of_a_gets_403_or_404_with_the_identifiers_of_b(client, organisation_b):
    contact_a, _term_a, _colleague_a = member("Organisation A", "a@example.org")
    user, _created = contact_login_ensure(contact=contact_a, password="mot-de-passe-a-1")
    client.force_login(user)
    _contact_b, term_b, colleague_b = organisation_b
    before = state(term_b.membership.organisation)
    for method, url in member_urls(term_b, colleague_b):
        if url == reverse("members:area"):
            continue  # the member area names no organisation: it shows A's, checked below
        response = getattr(client, method)(url, post_data(term_b, colleague_b))
        assert response.status_code in (403, 404), (method, url, response.status_code)
    assert state(term_b.membership.organisation) == before
    area = client.get(reverse("members:area")).content.decode()
    assert "Organisation A" in area
    assert "Organisation B" not in area
