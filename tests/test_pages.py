"""The installer's pages: plain words, accessible markup, the operator's branding, static files in production."""

import re
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from tests.helpers import install



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


@pytest.mark.django_db
def test_the_home_page_says_what_this_is_and_where_to_go(client, settings):
    settings.SLACK_APP_NAME = "Standup Bot"
    settings.SLACK_SANDBOX = True

    answer = client.get("/")

    html = answer.content.decode()
    assert answer.status_code == 200
    assert "<h1>Standup Bot</h1>" in html and "Standup Bot is a Slack app" in html
    assert '<a class="button" id="add-to-slack" href="/slack/install">Add to Slack</a>' in html
    assert '<a href="/admin/">Operator console</a>' in html
    assert '<a href="/sandbox/">Sandbox</a>' in html


@pytest.mark.django_db
def test_the_home_page_names_no_sandbox_when_it_is_off(client, settings):
    settings.SLACK_SANDBOX = False

    html = client.get("/").content.decode()

    assert 'id="add-to-slack"' in html and "/sandbox/" not in html and "andbox" not in html


def test_the_favicon_is_served(client):
    answer = client.get("/favicon.ico")

    assert answer.status_code == 200 and answer["Content-Type"] == "image/x-icon"
    assert answer.content[:4] == b"\x00\x00\x01\x00"  # an icon file
    assert "max-age" in answer["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/slack/install", "/admin/login/", "/slack/oauth_redirect", "/sandbox/"])
def test_pages_carry_a_content_security_policy_without_inline_script(client, url):
    policy = client.get(url)["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
    assert "unsafe" not in policy


@pytest.mark.django_db
@pytest.mark.parametrize("page", [install_page, failure_page])
def test_pages_name_an_icon_so_browsers_ask_for_no_other(client, settings, page):
    settings.SLACK_APP_ICON_URL = ""

    html = page(client)

    assert re.search(r'<link rel="icon" href="/static/favicon[^"]*\.ico">', html)
