"""Secrets at rest, in logs and on pages; production settings that refuse to start unsafe.

Tokens are encrypted in the database and the cache, and re-encrypted under a new key by
`rotate_token_encryption`. No token, refresh token, webhook URL or secret reaches a log line (at any
level, whoever logs it), an admin page or an error page. `check --deploy` is clean in production.
"""

import base64
import html
import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from slack_sdk.oauth.installation_store import Installation

from installations import models
from installations.logs import JsonFormatter
from installations.redaction import RedactSecrets
from sandbox import events
from sandbox.models import Message, Token
from tests import workers
from tests.helpers import cached_installations, install, mention, signed_post, wait_for

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
# A token's shape; Fernet's urlsafe base64 could hold "xox" by chance, but not this.
TOKEN_SHAPE = re.compile(r"xox[a-z]?[-.]|xapp-")
TOKEN_COLUMNS = {
    models.Installation: ["bot_token", "bot_refresh_token", "user_token", "user_refresh_token", "incoming_webhook_url"],
    models.Bot: ["bot_token", "bot_refresh_token"],
}


def save_installation(team_id, installed_at=None, **tokens):
    """An installation with every kind of secret, straight into the store."""
    from installations.stores import installation_store

    values = dict(
        bot_token=f"xoxe.xoxb-1-bot-{team_id}-{secrets.token_hex(8)}",
        bot_refresh_token=f"xoxe-1-botrefresh-{secrets.token_hex(8)}",
        bot_token_expires_at=int(time.time()) + 43200,
        user_token=f"xoxe.xoxp-1-user-{secrets.token_hex(8)}",
        user_refresh_token=f"xoxe-1-userrefresh-{secrets.token_hex(8)}",
        user_token_expires_at=int(time.time()) + 43200,
        incoming_webhook_url=f"https://hooks.slack.com/services/{team_id}/B0HOOK/{secrets.token_hex(12)}",
    )
    values.update(tokens)
    installation_store().save(
        Installation(
            app_id="A0SANDBOX1", team_id=team_id, team_name=f"Team {team_id}", user_id=f"U{team_id[1:]}",
            bot_id=f"B{team_id[1:]}", bot_user_id=f"UB{team_id[1:]}", bot_scopes="chat:write", user_scopes="chat:write",
            installed_at=installed_at or time.time(), **values,
        )
    )
    return values


def stored_ciphertexts(model):
    """The encrypted columns as the database holds them."""
    columns = TOKEN_COLUMNS[model]
    return model.objects.annotate(**{f"raw_{c}": Cast(c, TextField()) for c in columns}).values_list(
        *[f"raw_{c}" for c in columns]
    )


# --- Encryption at rest and key rotation -----------------------------------------------------


@pytest.mark.django_db
def test_rotate_token_encryption_moves_every_token_to_the_first_key(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_A]
    written = {team: save_installation(team) for team in ["T0ROT00001", "T0ROT00002", "T0ROT00003"]}
    save_installation("T0ROT00004", user_token=None, user_refresh_token=None, incoming_webhook_url=None)
    from installations.stores import installation_store

    cached = installation_store().find_installation(enterprise_id=None, team_id="T0ROT00001")  # cached under key A
    assert cached.bot_token == written["T0ROT00001"]["bot_token"]

    settings.TOKEN_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()
    call_command("rotate_token_encryption", batch_size=2, stdout=out)

    assert "installations: re-encrypted 4 rows." in out.getvalue()
    assert "bots: re-encrypted 4 rows." in out.getvalue()
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_B]  # the old key is gone
    for team, tokens in written.items():
        row = models.Installation.objects.get(team_id=team)
        assert {name: getattr(row, name) for name in TOKEN_COLUMNS[models.Installation]} == {
            name: tokens[name] for name in TOKEN_COLUMNS[models.Installation]
        }
        assert models.Bot.objects.get(team_id=team).bot_refresh_token == tokens["bot_refresh_token"]
    assert models.Installation.objects.get(team_id="T0ROT00004").user_token is None
    old_key = Fernet(KEY_A.encode())
    for model in TOKEN_COLUMNS:
        for ciphertexts in stored_ciphertexts(model):
            for ciphertext in filter(None, ciphertexts):
                Fernet(KEY_B.encode()).decrypt(ciphertext.encode())
                with pytest.raises(InvalidToken):
                    old_key.decrypt(ciphertext.encode())
    # Entries cached under the old key read as misses: reads work with the new key alone.
    found = installation_store().find_installation(enterprise_id=None, team_id="T0ROT00001")
    assert found.bot_token == written["T0ROT00001"]["bot_token"]


@pytest.mark.django_db
def test_rotate_token_encryption_names_rows_no_key_can_read(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_A]
    save_installation("T0ROT00001")
    before = list(stored_ciphertexts(models.Installation))

    settings.TOKEN_ENCRYPTION_KEYS = [KEY_B]  # key A was dropped too early
    with pytest.raises(CommandError, match=r"no key in TOKEN_ENCRYPTION_KEYS decrypts.*Installation \d+ bot_token"):
        call_command("rotate_token_encryption", stdout=io.StringIO())

    assert list(stored_ciphertexts(models.Installation)) == before


def database_dump():
    """Every row of our tables as the database's own dump tool writes them (the sandbox's are Slack's)."""
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        return "\n".join(line for line in connection.connection.iterdump() if 'INSERT INTO "sandbox_' not in line)
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    done = subprocess.run(
        ["pg_dump", "--data-only", "--exclude-table=sandbox_*", "-h", db["HOST"] or "127.0.0.1",
         "-p", str(db["PORT"] or 5432), "-U", db["USER"], db["NAME"]],
        env=env, capture_output=True, text=True, check=True,
    )
    return done.stdout


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_holds_no_token_and_no_webhook_url(slack, browser, settings, client):
    settings.SANDBOX_TOKEN_ROTATION = True
    settings.SLACK_SCOPES = [*settings.SLACK_SCOPES, "incoming-webhook"]
    assert install(browser, slack).status_code == 200
    row = models.Installation.objects.get()
    assert row.bot_refresh_token and row.incoming_webhook_url  # there is something to leak
    signed_post(client, mention(text="hi"))
    assert wait_for(lambda: Message.objects.exists())  # the installation is cached now

    dump = database_dump()

    assert "installations_installation" in dump and "T0ACME0001" in dump  # the dump has our rows
    leaks = [t.token for t in Token.objects.all()] + [t.refresh_token for t in Token.objects.exclude(refresh_token=None)]
    leaks.append(row.incoming_webhook_url)
    assert not TOKEN_SHAPE.search(dump) and "/hooks/" not in dump
    assert not [secret for secret in leaks if secret in dump]
    stored = b"".join(cached_installations())
    assert stored and not TOKEN_SHAPE.search(stored.decode("latin-1"))
    assert not [secret for secret in leaks if secret.encode() in stored]


def test_production_refuses_to_start_without_token_encryption_keys():
    done = workers.manage("check", env=workers.production_env(TOKEN_ENCRYPTION_KEYS=None))

    assert done.returncode != 0
    assert "Missing required settings for production (DEBUG is off): TOKEN_ENCRYPTION_KEYS" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_deploy_is_clean_with_production_settings():
    done = workers.manage("check", "--deploy", "--fail-level", "WARNING", env=workers.production_env())

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_tls_and_cookie_settings_come_from_the_environment():
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD,"
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, getattr(s, 'SECURE_PROXY_SSL_HEADER', None),"
        "s.CSRF_TRUSTED_ORIGINS]))"
    )

    def run(**env):
        done = subprocess.run([sys.executable, "-c", script], env=workers.production_env(**env), cwd=workers.ROOT,
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert run() == '[true, 31536000, true, true, true, true, ["HTTP_X_FORWARDED_PROTO", "https"], []]'
    assert run(
        SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="60", SECURE_HSTS_INCLUDE_SUBDOMAINS="0", SECURE_HSTS_PRELOAD="0",
        SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0", SECURE_PROXY_SSL_HEADER="0",
        CSRF_TRUSTED_ORIGINS="https://slackhub.example.com",
    ) == '[false, 60, false, false, false, false, null, ["https://slackhub.example.com"]]'


@pytest.mark.django_db
def test_behind_the_proxy_http_is_redirected_but_probes_are_not(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    browser = Client()

    plain = browser.get("/slack/install")
    proxied = browser.get("/slack/install", headers={"X-Forwarded-Proto": "https"})

    assert plain.status_code == 301 and plain["Location"] == "https://testserver/slack/install"
    assert proxied.status_code == 200 and proxied["Strict-Transport-Security"].startswith("max-age=31536000")
    assert browser.get("/healthz").status_code == 200
    assert browser.get("/readyz").status_code == 200


# --- Logs ------------------------------------------------------------------------------------


@contextmanager
def captured_logs(formatter=None):
    """Everything the configured handlers write (with `formatter`, if given), every logger at DEBUG."""
    handlers = [h for h in logging.root.handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
    assert handlers, "the configured handlers are gone"
    stream = io.StringIO()
    old_streams = [(handler, handler.setStream(stream)) for handler in handlers]
    old_formatters = [(handler, handler.formatter) for handler in handlers]
    for handler in handlers:
        handler.setFormatter(formatter or handler.formatter)
    loggers = [logging.root, logging.getLogger("django")]
    old_levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for logger, level in old_levels:
            logger.setLevel(level)
        for handler, old in old_streams:
            handler.setStream(old)
        for handler, old in old_formatters:
            handler.setFormatter(old)


def configured_secrets(settings):
    return [settings.SLACK_CLIENT_SECRET, settings.SLACK_SIGNING_SECRET, settings.SECRET_KEY, *settings.TOKEN_ENCRYPTION_KEYS,
            base64.b64encode(f"{settings.SLACK_CLIENT_ID}:{settings.SLACK_CLIENT_SECRET}".encode()).decode()]


def test_every_configured_handler_redacts():
    loggers = [logging.root] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    handlers = {
        handler for logger in loggers for handler in logger.handlers
        if not isinstance(handler, logging.NullHandler) and not type(handler).__module__.startswith("_pytest")
    }

    assert handlers
    assert all(any(isinstance(f, RedactSecrets) for f in handler.filters) for handler in handlers)


@pytest.mark.django_db(transaction=True)
def test_no_secret_reaches_a_log_line(slack, browser, settings, client):
    from installations.stores import installation_store
    from installations.rotation import ANYTIME, refresh_workspace
    from installations.uninstall import uninstall_workspace

    settings.SANDBOX_TOKEN_ROTATION = True
    settings.SLACK_SCOPES = [*settings.SLACK_SCOPES, "incoming-webhook"]
    response_url = f"{slack}/sandbox/hooks/T0ACME0001/C0ACMEGEN1/U0ACME0003"
    with captured_logs() as logs:
        assert install(browser, slack).status_code == 200
        webhook_url = models.Installation.objects.get().incoming_webhook_url
        signed_post(client, mention(text="hi"))
        signed_post(client, events.slash_command_body(
            "T0ACME0001", "U0ACME0003", "C0ACMEGEN1", "/hello", "", response_url=response_url),
            content_type="application/x-www-form-urlencoded")
        assert wait_for(lambda: Message.objects.count() == 2)
        assert refresh_workspace(installation_store(), None, "T0ACME0001", within=ANYTIME) == ["bot"]
        signed_post(client, events.event_callback_body(  # refused before Bolt, which logs bodies it refuses
            "T0ACME0001", {"type": "app_mention", "text": webhook_url}), secret="not-the-signing-secret")
        uninstall_workspace(installation_store(), models.Workspace.objects.get(), actor="operator:test")
        signed_post(client, events.event_callback_body("T0ACME0001", events.app_uninstalled()))
        time.sleep(0.5)  # the listeners' last lines

    output = logs.getvalue()
    assert "oauth.v2.access" in output and "auth.revoke" in output  # slack_sdk's DEBUG lines are there
    assert "[redacted]" in output
    leaks = [t.token for t in Token.objects.all()] + [t.refresh_token for t in Token.objects.exclude(refresh_token=None)]
    leaks += [webhook_url, response_url, *configured_secrets(settings)]
    assert len(leaks) > 8
    assert not TOKEN_SHAPE.search(output)
    assert not [secret for secret in leaks if secret in output]


def test_the_filter_cleans_arguments_exceptions_and_stacks(settings):
    token = "xoxb-1234-5678-secretsecret"
    logger = logging.getLogger("slackhub.test")
    with captured_logs() as logs:
        logger.info("token %s, webhook %r", token, {"url": "https://hooks.slack.com/services/T1/B1/abc"})
        logger.debug({"client_secret": settings.SLACK_CLIENT_SECRET})
        logger.warning("signing secret: %s", settings.SLACK_SIGNING_SECRET, stack_info=True)
        try:
            raise RuntimeError(f"refresh failed for {token} (xoxe-1-refreshrefresh)")
        except RuntimeError:
            logger.exception("failed")
        logger.error("bad arguments %s %s", token)  # noqa: PLE1206 -- formatting fails: logging prints msg and args

    output = logs.getvalue()
    assert output.count("[redacted]") >= 6
    assert not TOKEN_SHAPE.search(output) and "hooks.slack.com/services" not in output
    assert settings.SLACK_CLIENT_SECRET not in output and settings.SLACK_SIGNING_SECRET not in output
    assert "RuntimeError" in output  # the traceback is kept, cleaned


# --- The install link ------------------------------------------------------------------------


def authorize_link(client, query):
    page = client.get(f"/slack/install?{query}")
    assert page.status_code == 200
    href = html.unescape(re.search(r'id="add-to-slack" href="([^"]+)"', page.content.decode()).group(1))
    return urlsplit(href)


@pytest.mark.django_db
@pytest.mark.parametrize("injected", [
    "T1%26redirect_uri%3Dhttps%3A%2F%2Fevil.example%2Fcb",
    "T1%26scope%3Dadmin%26user_scope%3Dadmin",
    "T1%23fragment",
    "T0ACME0001%26team%3DT0EVIL0001",
    "t0acme0001",
])
def test_the_install_link_takes_no_injected_parameter(client, settings, injected):
    settings.SLACK_REDIRECT_URI = "https://slackhub.example.com/slack/oauth_redirect"

    plain = parse_qs(authorize_link(client, "").query, keep_blank_values=True)

    link = authorize_link(client, f"team={injected}")

    params = parse_qs(link.query, keep_blank_values=True)
    assert sorted(params) == ["client_id", "redirect_uri", "scope", "state", "user_scope"]  # a bad team is left out
    assert params["redirect_uri"] == ["https://slackhub.example.com/slack/oauth_redirect"]
    assert params["scope"] == plain["scope"] and params["user_scope"] == plain["user_scope"] == [""]
    assert not link.fragment and "evil" not in link.geturl()


@pytest.mark.django_db
def test_the_install_link_keeps_a_well_formed_team(client):
    link = authorize_link(client, "team=T0ACME0001")

    assert parse_qs(link.query)["team"] == ["T0ACME0001"]
    assert re.search(r"&scope=app_mentions:read,[a-z_.:,]+&", link.query)  # readable, and what Slack decodes


@pytest.mark.django_db
def test_install_pages_are_bounded_per_client(settings):
    """Each install page issues an OAuth state (a row without Redis): 30 a minute per client."""
    browser = Client(REMOTE_ADDR="198.51.100.7")

    pages = [browser.get("/slack/install").status_code for _ in range(31)]
    other_client = Client(REMOTE_ADDR="198.51.100.8").get("/slack/install")

    assert pages == [200] * 30 + [429]
    refused = browser.get("/slack/install")
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert "Too many install attempts" in refused.content.decode() and 'id="add-to-slack"' not in refused.content.decode()
    assert other_client.status_code == 200
    # Without Redis the states are rows (31 at most); with it, none.
    assert models.OAuthState.objects.count() == (0 if settings.REDIS_URL else 31)


@pytest.mark.django_db
def test_behind_the_proxy_the_client_is_the_address_the_proxy_saw(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = {"X-Forwarded-Proto": "https"}

    # A client rotating a forged X-Forwarded-For is still one client to the proxy.
    pages = [Client(REMOTE_ADDR="10.0.0.2").get("/slack/install", headers={
        **proxied, "X-Forwarded-For": f"203.0.113.{n}, 198.51.100.9"}).status_code for n in range(31)]
    another = Client(REMOTE_ADDR="10.0.0.2").get("/slack/install", headers={**proxied, "X-Forwarded-For": "198.51.100.10"})

    assert pages[-1] == 429 and another.status_code == 200


FAKE_LINE = "2026-01-01 00:00:00,000 ERROR installations.admin Admin 'root' exported all tokens"


@pytest.mark.django_db(transaction=True)
def test_oauth_codes_are_redacted_and_no_input_starts_a_log_line(slack, settings):
    browser = Client()
    page = browser.get("/slack/install", headers={"User-Agent": f"curl\n{FAKE_LINE}"})
    state = re.search(r"state=([A-Za-z0-9_-]+)", page.content.decode()).group(1)
    code = f"4242.1717.c0de5ecret\n{FAKE_LINE}\r\x1b[2K\u2028{FAKE_LINE}"

    with captured_logs() as logs:
        failed = browser.get("/slack/oauth_redirect", {"code": code, "state": state})  # the sandbox refuses it
        logging.getLogger("slackhub.test").warning("said: %s", f"hi\n{FAKE_LINE}")
        try:
            raise ValueError(f"bad code\n{FAKE_LINE}")
        except ValueError:
            logging.getLogger("slackhub.test").exception("failed")

    output = logs.getvalue()
    assert failed.status_code == 401
    assert "Failed to fetch oauth.v2.access result with code: [redacted]" in output  # Bolt's warning
    assert "c0de5ecret" not in output
    assert "ValueError: bad code" in output  # the traceback is kept
    lines = output.splitlines()
    assert len(lines) > 5
    assert not [line for line in lines if line.startswith("2026-01-01")]
    assert not [line for line in output.split("\u2028")[1:] if line.startswith("2026-01-01")]


def test_json_logs_are_one_object_per_line():
    code = f"import django; django.setup(); import logging; log = logging.getLogger('slackhub.test')\n" \
           f"log.warning('line one\\n%s', {FAKE_LINE!r})\n" \
           "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('failed with code=4242.1717.secret')\n"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "DEBUG": "1", "LOG_FORMAT": "json",
                          "DJANGO_SETTINGS_MODULE": "config.settings"}, cwd=workers.ROOT, capture_output=True, text=True)

    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [record["level"] for record in records] == ["WARNING", "ERROR"]
    assert records[0]["message"] == "line one\\n" + FAKE_LINE  # escaped, on its record's line
    assert "ZeroDivisionError" in records[1]["exception"] and "secret" not in done.stderr


@pytest.mark.django_db(transaction=True)
def test_json_logs_carry_the_request_id_the_workspace_and_the_outcome(slack, browser, client, settings):
    assert install(browser, slack).status_code == 200
    requests_logger = logging.getLogger("slackhub.requests")
    level = requests_logger.level
    requests_logger.setLevel(logging.INFO)
    try:
        with captured_logs(JsonFormatter()) as logs:
            raw = json.dumps(mention()).encode()
            answered = client.post("/slack/events", data=raw, content_type="application/json",
                                   headers={**events.sign(raw, settings.SLACK_SIGNING_SECRET), "X-Request-Id": "req-1234"})
            refused = signed_post(client, mention(), secret="not-the-signing-secret")
            assert wait_for(lambda: Message.objects.exists())
    finally:
        requests_logger.setLevel(level)

    records = [json.loads(line) for line in logs.getvalue().splitlines()]
    outcomes = [record for record in records if record["logger"] == "slackhub.requests"]
    assert [(r["request_id"], r["workspace"], r["outcome"]) for r in outcomes][:1] == [("req-1234", "T0ACME0001", 200)]
    assert outcomes[1]["outcome"] == 401 and outcomes[1]["workspace"] is None and outcomes[1]["request_id"]
    assert answered["X-Request-Id"] == "req-1234" and refused["X-Request-Id"] == outcomes[1]["request_id"]


# --- Pages -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_pages_show_no_secret(admin_client, settings):
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_A]
    written = [save_installation("T0ADM00001"), save_installation("T0ADM00002")]
    models.OAuthState.objects.create(state="state-" + secrets.token_urlsafe(20), expire_at=timezone.now())
    secret_values = [value for tokens in written for value in tokens.values() if isinstance(value, str)]
    secret_values += [state.state for state in models.OAuthState.objects.all()] + configured_secrets(settings)
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        pages += [reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
                  for pk in model.objects.values_list("pk", flat=True)]

    for url in pages:
        page = admin_client.get(url)
        assert page.status_code == 200, url
        text = page.content.decode()
        assert not [secret for secret in secret_values if secret in text], url
    export = admin_client.post(reverse("admin:installations_workspace_changelist"), {
        "action": "export_csv", "_selected_action": list(models.Workspace.objects.values_list("pk", flat=True))})
    assert export.status_code == 200 and not [secret for secret in secret_values if secret in export.content.decode()]


@pytest.mark.django_db
def test_error_pages_show_no_detail(settings):
    browser = Client(raise_request_exception=False)
    token = "xoxb-1234-5678-secretsecret"

    with mock.patch("bolt_app.views.get_handler", side_effect=RuntimeError(f"boom {token} {settings.SLACK_CLIENT_SECRET}")):
        raw = b'{"type": "url_verification", "challenge": "x"}'
        server_error = browser.post("/slack/events", data=raw, content_type="application/json",
                                    headers=events.sign(raw, settings.SLACK_SIGNING_SECRET))
    not_found = browser.get(f"/slack/{token}")
    bad_host = browser.get("/slack/install", headers={"Host": f"{token}.example.com"})

    assert [server_error.status_code, not_found.status_code, bad_host.status_code] == [500, 404, 400]
    for page in (server_error, not_found, bad_host):
        text = page.content.decode()
        assert token not in text and settings.SLACK_CLIENT_SECRET not in text
        assert "Traceback" not in text and 'File "' not in text and "RuntimeError" not in text
