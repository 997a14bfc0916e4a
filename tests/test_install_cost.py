"""What one install costs the database (issue 10, new-user point 6: Bolt's Django example runs 9)."""

import html
import re
from urllib.parse import urljoin, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from installations import models

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_install_runs_at_most_ten_sql_statements(slack, browser, client):
    # The app's two requests go through Django's test client in this thread, where the queries are
    # counted; the consent page is the sandbox's, on the live server.
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/slack/install")
        assert page.status_code == 200
        href = html.unescape(re.search(r'id="add-to-slack" href="([^"]+)"', page.content.decode()).group(1))
        consent_url = urljoin(slack, href)
        count_before_consent = len(queries)
        consent = browser.get(consent_url)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', consent.text).group(1)
        answer = browser.post(consent_url, data={"csrfmiddlewaretoken": csrf, "target": "T0ACME0001",
                              "user": "T0ACME0001:U0ACME0001", "decision": "allow"}, allow_redirects=False)
        assert len(queries) == count_before_consent  # the sandbox's queries run on the live server's thread
        callback = urlsplit(answer.headers["Location"])
        done = client.get(f"{callback.path}?{callback.query}")

    assert done.status_code == 200 and "Installed." in done.content.decode()
    assert models.Installation.objects.get().team_id == "T0ACME0001"
    assert len(queries) <= 10, "\n".join(q["sql"] for q in queries)
