"""The installer's pages: plain words, accessible markup, the operator's branding, static files in production."""

import re
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application

from tests.conftest import install


def install_page(client):
    answer = client.get("/slack/install")
    assert answer.status_code == 200
    return answer.content.decode()


def failure_page(client):
    answer = client.get("/slack/oauth_redirect?code=any&state=from-another-browser")  # no state cookie
    assert answer.status_code == 400
    return answer.content.decode()


@pytest.mark.django_db
def test_the_install_page_explains_scopes_in_plain_words(client, settings):
    settings.SLACK_SCOPES = ["chat:write", "commands", "some:new-scope"]
    settings.SLACK_USER_SCOPES = ["search:read"]

    html = install_page(client)

    assert "<li>Send messages as the app <code>chat:write</code></li>" in html
    assert "<li>Add slash commands people can use <code>commands</code></li>" in html
    assert "<li><code>some:new-scope</code></li>" in html  # no description: the scope alone, not twice
    assert "on your behalf" in html and "<code>search:read</code>" in html
    assert 'id="add-to-slack"' in html


@pytest.mark.django_db
def test_the_install_page_has_no_user_scope_section_without_user_scopes(client):
    assert "on your behalf" not in install_page(client)


@pytest.mark.django_db
@pytest.mark.parametrize("page", [install_page, failure_page])
def test_pages_are_structured_for_assistive_technology(client, page):
    html = page(client)

    assert '<html lang="en">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.count("<header") == 1 and html.count("<main") == 1 and html.count("<h1") == 1
    assert re.search(r"<title>[^<]+</title>", html)
    assert '<a class="button"' in html  # the one next step is a link a keyboard reaches


@pytest.mark.django_db
@pytest.mark.parametrize("page", [install_page, failure_page])
def test_pages_carry_the_operators_branding(client, settings, page):
    settings.SLACK_APP_NAME = "Standup Bot"
    settings.SLACK_APP_ICON_URL = "https://cdn.example.com/standup.png"
    settings.SUPPORT_URL = "https://help.example.com/standup"

    html = page(client)

    assert '<span class="app-name">Standup Bot</span>' in html
    assert '<img class="app-icon" src="https://cdn.example.com/standup.png" alt=""' in html
    assert '<link rel="icon" href="https://cdn.example.com/standup.png">' in html
    assert '<a href="https://help.example.com/standup">' in html


@pytest.mark.django_db
def test_without_icon_or_support_link_the_pages_still_read_well(client, settings):
    settings.SLACK_APP_NAME = "standup"
    settings.SLACK_APP_ICON_URL = ""
    settings.SUPPORT_URL = ""

    html = install_page(client)

    assert '<span class="app-icon monogram" aria-hidden="true">S</span>' in html
    assert "<img" not in html and "<footer" not in html


@pytest.mark.django_db(transaction=True)
def test_the_success_page_is_branded_and_points_to_help(slack, browser, settings):
    settings.SLACK_APP_NAME = "Standup Bot"
    settings.SUPPORT_URL = "mailto:help@example.com"

    done = install(browser, slack)

    assert done.status_code == 200
    assert "Standup Bot is in Acme Corp" in done.text and 'href="/sandbox/">Open Slack</a>' in done.text
    assert '<a href="mailto:help@example.com">' in done.text


def wsgi_get(application, path, **headers):
    """One GET straight through the WSGI application, as gunicorn behind the TLS proxy would call it."""
    environ = {
        "PATH_INFO": path, "QUERY_STRING": "", "REQUEST_METHOD": "GET", "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "https", **headers,
    }
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer.update(status=int(status.split()[0]), headers=dict(response_headers))

    chunks = application(environ, start_response)
    try:
        answer["body"] = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer


@pytest.mark.django_db(transaction=True)  # the WSGI handler closes database connections after each request
def test_whitenoise_serves_the_collected_css_with_debug_off(settings, tmp_path):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.STORAGES = {
        **settings.STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    application = get_wsgi_application()  # WhiteNoise reads STATIC_ROOT when the application is built

    page = wsgi_get(application, "/slack/install")
    css_url = re.search(r'href="(/static/slackhub\.[0-9a-f]{12}\.css)"', page["body"].decode()).group(1)
    css = wsgi_get(application, css_url, HTTP_ACCEPT_ENCODING="gzip")

    assert page["status"] == 200
    assert css["status"] == 200 and css["headers"]["Content-Type"].startswith("text/css")
    assert css["headers"]["Content-Encoding"] == "gzip"
    assert "immutable" in css["headers"]["Cache-Control"]  # hashed names can be cached for good
    plain = wsgi_get(application, css_url)
    assert b".button" in plain["body"]
    admin_css = wsgi_get(application, "/static/admin/css/base.css")
    assert admin_css["status"] == 200  # the operator console's styles too
    assert wsgi_get(application, "/static/no-such-file.css")["status"] == 404
