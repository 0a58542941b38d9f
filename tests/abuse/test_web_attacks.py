"""Attacks on the hub's web pages and API through Flask's test client, on SQLite and
PostgreSQL: session fixation, CSRF on every POST route, stored XSS through names in Arabic
and Latin script, SQL injection in searches and query strings, path traversal in URL
parameters (and in the kiosk's media and prompt routes), oversized uploads, login throttling
and the security headers."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from hub import users
from hub.api import PREFIX
from hub.api.core import COOKIE
from hub.app import UPLOAD_LIMIT_MB
from hub.audit import Trail
from hub.models import AuditEntry, Detainee
from hub.questionnaires import FORMS_DIR, scoring
from hub.roles import ROLES
from kiosk import store
from kiosk.app import create_app as create_kiosk_app
from kiosk.config import KioskConfig
from protocol.ids import utc_now
from tests.api_client import PASSWORD, ApiClient, Hub, running_hub

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SITE = "rabat-1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MB = 1024 * 1024
XSS_LATIN = "<script>alert(1)</script> Karim \"'><img src=x onerror=alert(2)>"
XSS_ARABIC = "كريم <svg onload=alert(3)> الإدريسي</textarea><script>alert('ع')</script>"
XSS_TITLE = "Soudure <iframe src=javascript:alert(4)>"
INJECTIONS = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '" OR ""="',
    "1' UNION SELECT name_latin FROM detainees --",
    "'; DROP TABLE detainees; --",
    "%",
    "_",
    "\\",
    "*",
    "') OR ('a'='a",
    "' OR 1=1 -- ",
    "\x00' OR 1=1",
    "ك' OR 'ك'='ك",
]


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(database_url, tmp_path) as running:
        for role in ROLES:
            running.add_user(_username(role), role, **_ties(role))
        yield running


def _username(role: str) -> str:
    return role.replace("_", "-")


def _ties(role: str) -> dict[str, Any]:
    return {"partner": "fondation-x"} if role == "partner" else {}


def token_of(page: str) -> str:
    found = TOKEN.search(page)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def log_in(client: FlaskClient, username: str, password: str = PASSWORD, **how: Any) -> Any:
    form = client.get("/login", **how).text
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token_of(form)},
        **how,
    )


def from_address(hub: Hub, address: str) -> FlaskClient:
    client = hub.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def browser(hub: Hub, role: str, address: str = "127.0.0.1") -> FlaskClient:
    client = from_address(hub, address)
    assert log_in(client, _username(role)).status_code == 302
    return client


def session_cookie(answer: Any) -> str | None:
    for header in answer.headers.getlist("Set-Cookie"):
        if header.startswith(f"{COOKIE}="):
            return str(header.split(";", 1)[0].split("=", 1)[1]) or None
    return None


def audit_count(hub: Hub) -> int:
    with hub.sessions() as session:
        refused = AuditEntry.action == "health.refused"  # a refused health page is audited
        return int(session.scalar(select(func.count()).where(~refused)) or 0)


# --- session fixation ---------------------------------------------------------------------


def test_a_planted_session_token_is_useless_and_every_login_gets_a_new_one(hub: Hub) -> None:
    planted = "attacker-chosen-token-0123456789"
    victim = hub.app.test_client()
    victim.set_cookie(COOKIE, planted)
    assert victim.get("/dashboard").headers["Location"].startswith("/login")
    answer = log_in(victim, "admin")
    assert answer.status_code == 302
    first = session_cookie(answer)
    assert first is not None and first != planted
    attacker = hub.app.test_client()
    attacker.set_cookie(COOKIE, planted)
    assert attacker.get("/dashboard").status_code == 302  # the planted token opens nothing
    api_attacker = hub.client()
    api_attacker.token = planted
    assert api_attacker.get(f"{PREFIX}/me").status_code == 401

    again = log_in(victim, "admin")  # logging in again, even while logged in, rotates
    second = session_cookie(again)
    assert second is not None and second not in (first, planted)
    with hub.sessions() as session:
        assert users.authenticate(session, first) is not None  # another tab keeps its own

    api = hub.client()
    answer = api.client.post(
        f"{PREFIX}/session",
        json={"username": "admin", "password": PASSWORD},
        headers={"Cookie": f"{COOKIE}={planted}"},
    )
    assert answer.status_code == 200
    assert answer.get_json()["token"] not in (planted, first, second)
    assert session_cookie(answer) == answer.get_json()["token"]

    with hub.sessions.begin() as session:  # a new password ends every session
        admin = users.authenticate(session, second)
        assert admin is not None
        trail = Trail(hub.key, "system:test")
        users.set_password(session, trail, admin[0].id, "another long password")
    assert victim.get("/dashboard").headers["Location"].startswith("/login")

    form = hub.app.test_client()  # the login form's own token serves once
    page = form.get("/login").text
    data = {"username": "admin", "password": "another long password", "csrf_token": token_of(page)}
    assert form.post("/login", data=data).status_code == 302
    assert form.post("/login", data=data).status_code == 400


# --- CSRF -----------------------------------------------------------------------------------


def test_every_post_route_of_the_web_pages_refuses_a_form_without_its_token(hub: Hub) -> None:
    clients = {role: browser(hub, role) for role in ROLES}
    rules = [
        rule
        for rule in hub.app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and not rule.rule.startswith(PREFIX)
    ]
    assert len(rules) >= 15
    before = audit_count(hub)
    checked = []
    for rule in rules:
        path = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "1", rule.rule)
        if rule.endpoint == "auth.login_submit":
            answer = hub.app.test_client().post(path, data={"username": "admin"})
            assert answer.status_code == 400 and session_cookie(answer) is None
            checked.append(rule.endpoint)
            continue
        if rule.endpoint == "auth.choose_language":
            # Before login, the language is only a display preference kept in a cookie:
            # nothing on the hub changes, and this one form carries no token (a known gap).
            continue
        statuses = {}
        for role, client in clients.items():
            for forged in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
                answer = client.post(path, data=forged)
                assert answer.status_code in (400, 403), f"{rule.rule} as {role}: {answer.status}"
                statuses[role] = answer.status_code
            elsewhere = client.post(path, data={}, headers={"Origin": "https://evil.example"})
            assert elsewhere.status_code in (400, 403)
        assert 400 in statuses.values(), f"{rule.rule}: no role reached the CSRF check"
        checked.append(rule.endpoint)
    assert audit_count(hub) == before  # nothing was done
    for client in clients.values():  # and every session still works
        assert client.get("/").status_code == 302
    logout = clients["admin"]
    page = logout.get("/fleet").text
    assert logout.post("/logout", data={"csrf_token": token_of(page)}).status_code == 302
    assert len(checked) >= len(rules) - 1


# --- stored XSS -----------------------------------------------------------------------------


class Markup(HTMLParser):
    """The tags and attributes a browser would build from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.handlers: list[tuple[str, str]] = []
        self.scripts: list[str] = []
        self.tags: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.handlers.append((tag, name))

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def assert_inert(page: str, *payloads: str) -> None:
    parsed = Markup()
    parsed.feed(page)
    assert parsed.handlers == [], parsed.handlers
    assert not any("alert" in script for script in parsed.scripts)
    assert "iframe" not in parsed.tags
    for payload in payloads:
        assert payload not in page
        for part in ("<script>", "<svg onload", "<img src=x", "<iframe"):
            if part in payload:
                assert part not in page, part


def intake(client: ApiClient, number: str, latin: str, arabic: str, **more: Any) -> str:
    person = {
        "prison_number": number,
        "name_latin": latin,
        "name_arabic": arabic,
        "birth_date": "1990-05-01",
        "nationality": more.pop("nationality", "MA"),
        "site": SITE,
        "wing": "a",
        "admission_date": str(date.today() - timedelta(days=30)),
        "expected_release_date": str(date.today() + timedelta(days=300)),
        **more,
    }
    answer = client.post(f"{PREFIX}/detainees", json=person)
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["id"])


def test_names_with_html_in_both_scripts_are_shown_as_text_everywhere(hub: Hub) -> None:
    registrar, trainer, nurse = (
        hub.client("registrar"),
        hub.client("trainer"),
        hub.client("health-staff"),
    )
    person = intake(
        registrar,
        "2026/X-1",
        XSS_LATIN,
        XSS_ARABIC,
        nationality="<b>MA</b><script>alert(5)</script>",
        cell="<script>alert(6)</script>",
    )
    programme = trainer.call(
        "PUT",
        f"{PREFIX}/programmes/soudure-1",
        json={
            "titles": {"fr": XSS_TITLE, "ar": "لحام <script>alert(7)</script>"},
            "provider": "<img src=x onerror=alert(8)>",
            "site": SITE,
            "capacity": 5,
            "starts_on": str(date.today() - timedelta(days=1)),
            "ends_on": str(date.today() + timedelta(days=60)),
        },
    )
    assert programme.status_code in (200, 201), programme.get_json()
    asked = trainer.post(f"{PREFIX}/programmes/soudure-1/requests", json={"detainee_id": person})
    assert asked.status_code in (200, 201), asked.get_json()
    screening = nurse.post(
        f"{PREFIX}/detainees/{person}/screenings",
        json={
            "instrument": "phq9",
            "answers": dict.fromkeys(scoring.PHQ9_ITEMS, 3),
            "taken_at": utc_now().isoformat(),
        },
    )
    assert screening.status_code == 201, screening.get_json()

    payloads = (XSS_LATIN, XSS_ARABIC, XSS_TITLE)
    pages = {
        "registrar": ["/detainees?q=Karim", "/detainees?q=كريم", f"/detainees/{person}"],
        "trainer": ["/training", "/training/soudure-1", "/training/soudure-1/attendance"],
        "health_staff": ["/health", f"/health/{person}"],
        "admin": ["/dashboard", f"/detainees/{person}"],
    }
    shown = 0
    for role, paths in pages.items():
        client = browser(hub, role)
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, f"{path} as {role}"
            page = answer.text
            assert_inert(page, *payloads)
            if str(escape(XSS_LATIN)) in page or str(escape(XSS_ARABIC)) in page:
                shown += 1
    assert shown >= 6  # the names are on the pages, as text
    search = registrar.get(f"{PREFIX}/detainees", query_string={"q": "كريم"}).get_json()
    assert [found["name_arabic"] for found in search] == [XSS_ARABIC]  # stored as typed


# --- what a form can be made to send -------------------------------------------------------


class Forms(HTMLParser):
    """The POST forms of a page: action and fields with the values the page fills in."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and found.get("method", "").lower() == "post":
            self.forms.append((found.get("action", ""), {}))
        elif not self.forms or "name" not in found:
            if tag == "option" and self._select and self.forms:
                self.forms[-1][1].setdefault(self._select, found.get("value", ""))
            return
        elif tag in ("input", "textarea", "button"):
            if found.get("type") not in ("checkbox", "radio") or "checked" in found:
                self.forms[-1][1].setdefault(found["name"], found.get("value", ""))
        elif tag == "select":
            self._select = found["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def test_every_field_of_every_form_takes_nul_and_huge_numbers_without_failing(hub: Hub) -> None:
    """What PostgreSQL or SQLite cannot store is refused in words, never a server error."""
    person, alert = world(hub)
    pages = {
        "admin": ["/fleet", "/questionnaires", "/questionnaires/phq9", "/questionnaires/upload"],
        "registrar": [f"/detainees/{person}", "/questionnaires/phq9"],
        "trainer": ["/training/soudure-1", "/training/soudure-1/attendance", "/training"],
        "health_staff": ["/health", f"/health/{person}"],
    }
    tried = 0
    for role, paths in pages.items():
        client = browser(hub, role)
        for path in paths:
            parser = Forms()
            parser.feed(client.get(path).text)
            for action, fields in parser.forms:
                if action in ("/logout", "/me/language", "/language"):
                    continue
                for name in [n for n in fields if n != "csrf_token"]:
                    for evil in ("x\x00y", "9" * 30, "-" + "9" * 30):
                        answer = client.post(action or path, data={**fields, name: evil})
                        assert answer.status_code < 500, f"{action} {name}={evil!r} as {role}"
                        tried += 1
    visitor = from_address(hub, "127.0.0.20")
    for name in ("username", "password", "next"):
        for evil in ("x\x00y", "9" * 30):
            parser = Forms()
            parser.feed(visitor.get("/login").text)  # its token serves once
            [(action, fields)] = [form for form in parser.forms if "username" in form[1]]
            typed = {**fields, "username": "nobody", "password": "a wrong password", name: evil}
            answer = visitor.post(action or "/login", data=typed)
            assert answer.status_code < 500, f"login {name}={evil!r}"
            tried += 1
    assert tried >= 20 and alert


def world(hub: Hub) -> tuple[str, int]:
    """A person with an alert, a programme they asked for, a published form: (id, alert)."""
    registrar, trainer = hub.client("registrar"), hub.client("trainer")
    person = intake(registrar, "2026/W-1", "Karim Tazi", "كريم التازي")
    programme = {
        "titles": {"fr": "Soudure", "ar": "لحام"},
        "provider": "CFP",
        "site": SITE,
        "capacity": 5,
        "starts_on": str(date.today() - timedelta(days=1)),
        "ends_on": str(date.today() + timedelta(days=60)),
    }
    assert trainer.call("PUT", f"{PREFIX}/programmes/soudure-1", json=programme).status_code < 300
    asked = trainer.post(f"{PREFIX}/programmes/soudure-1/requests", json={"detainee_id": person})
    assert asked.status_code < 300
    nurse = hub.client("health-staff")
    answers = dict.fromkeys(scoring.PHQ9_ITEMS, 3)
    taken = {"instrument": "phq9", "answers": answers, "taken_at": utc_now().isoformat()}
    assert nurse.post(f"{PREFIX}/detainees/{person}/screenings", json=taken).status_code == 201
    alerts = nurse.get(f"{PREFIX}/health/alerts").get_json()
    admin = hub.client("admin")
    form = (FORMS_DIR / "phq9.xlsx").read_bytes()
    assert admin.post(f"{PREFIX}/questionnaires", data=form, headers={"Content-Type": XLSX})
    return person, int(alerts[0]["id"])


# --- SQL injection ------------------------------------------------------------------------


def test_injection_in_searches_and_query_strings_finds_nothing_extra_and_never_fails(
    hub: Hub,
) -> None:
    registrar = hub.client("registrar")
    neil = intake(registrar, "2026/Q-1", "Ahmed O'Neil", "أحمد أونيل")
    intake(registrar, "2026/Q-2", "Yassine Benali", "ياسين بنعلي")
    intake(registrar, "2026/Q-3", "Salma Tazi", "سلمى التازي")
    found = registrar.get(f"{PREFIX}/detainees", query_string={"q": "o'neil"}).get_json()
    assert [person["id"] for person in found] == [neil]  # a quote is just a character

    web = browser(hub, "registrar")
    for attack in INJECTIONS:
        answer = registrar.get(f"{PREFIX}/detainees", query_string={"q": attack})
        assert answer.status_code in (200, 422), attack
        if answer.status_code == 200:
            assert answer.get_json() == [], attack
        page = web.get("/detainees", query_string={"q": attack})
        assert page.status_code == 200, attack
        assert "data-detainee-id" not in page.text or neil not in page.text
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Detainee)) == 3

    # Every page's query string, with every attack: never a server error.
    clients = {role: browser(hub, role) for role in ("admin", "registrar", "trainer")}
    clients["health_staff"] = browser(hub, "health_staff")
    gets = [
        rule
        for rule in hub.app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not rule.rule.startswith((PREFIX, "/static"))
    ]
    for rule in gets:
        path = re.sub(
            r"<(?:[a-z]+:)?[a-z_]+>", "1", rule.rule.replace("<any(csv, xlsx):kind>", "csv")
        )
        for attack in [*INJECTIONS[:6], "\x00", "9" * 400, "-1", "2026-02-30"]:
            query = dict.fromkeys(("q", "page", "day", "site", "lang", "inactive", "next"), attack)
            for role, client in clients.items():
                answer = client.get(path, query_string=query)
                assert answer.status_code < 500, f"{rule.rule}?…={attack!r} as {role}"


# --- path traversal -----------------------------------------------------------------------

TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fpyproject.toml",
    "..%5c..%5cpyproject.toml",
    "....//....//etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "..%c0%af..%c0%afetc%c0%afpasswd",
    "/etc/passwd",
    "..",
    "%00",
]
SECRETS = [b"root:x:0:", b"[build-system]", b"def create_app", b"-----BEGIN"]


def never_a_file(answer: Any, hub: Hub, where: str, found: bool = False) -> None:
    """Refused (or, for a mere filter in the query string, answered), never from a file."""
    allowed = {400, 401, 403, 404, 405, 302, 308} | ({200} if found else set())
    assert answer.status_code in allowed, f"{where}: {answer.status}"
    key = hub.key
    for secret in (*SECRETS, key, key.hex().encode(), base64.b64encode(key)):
        assert secret not in answer.data, where


def test_traversal_in_url_parameters_reads_no_file(hub: Hub) -> None:
    partner, social = hub.client("partner"), hub.client("social-worker")
    admin_api = hub.client("admin")
    upload = admin_api.post(
        f"{PREFIX}/questionnaires",
        data=(FORMS_DIR / "phq9.xlsx").read_bytes(),
        headers={"Content-Type": XLSX},
    )
    assert upload.status_code == 201
    clients = {role: browser(hub, role) for role in ("admin", "registrar", "social_worker")}
    for evil in TRAVERSALS:
        web_paths = [
            f"/static/{evil}",
            f"/questionnaires/{evil}",
            f"/questionnaires/phq9/{evil}/preview",
            f"/questionnaires/{evil}/answers.csv",
            f"/detainees/{evil}",
            f"/training/{evil}",
        ]
        for path in web_paths:
            for role, client in clients.items():
                never_a_file(client.get(path), hub, f"{path} as {role}")
        filtered = clients["social_worker"].get("/referrals", query_string={"partner": evil})
        never_a_file(filtered, hub, f"/referrals?partner={evil}", found=True)
        listed = partner.client.get(f"{PREFIX}/referrals/{evil}", headers=_bearer(partner))
        never_a_file(listed, hub, f"referrals of {evil!r} for a partner")
        for name in (evil, evil.replace("%", "")):  # a name that matches nobody: an empty list
            answer = social.client.get(f"{PREFIX}/referrals/{name}", headers=_bearer(social))
            never_a_file(answer, hub, f"referrals of {name!r}", found=True)
            assert answer.status_code != 200 or answer.get_json() == []
        api_paths = [
            f"{PREFIX}/questionnaires/{evil}/1",
            f"{PREFIX}/questionnaires/phq9/{evil}",
            f"{PREFIX}/referrals/fondation-x/{evil}/file.pdf",
            f"{PREFIX}/referrals/{evil}/m1/file.csv",
            f"{PREFIX}/detainees/{evil}/timeline",
        ]
        for path in api_paths:
            for client in (partner, social, admin_api):
                never_a_file(client.client.get(path, headers=_bearer(client)), hub, path)
    with clients["admin"].get("/static/hub.css") as css:  # the folder still serves its own
        assert css.status_code == 200 and b"{" in css.data


def _bearer(client: ApiClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Flask]:
    config = KioskConfig(site="s", device="k", data_dir=tmp_path / "kiosk")
    store.open_store(config.store_path).close()
    (tmp_path / "kiosk" / "secret.txt").write_text("root:x:0:0 kiosk secret")
    yield create_kiosk_app(config)


def test_the_kiosk_media_and_prompt_routes_read_no_file(kiosk: Flask) -> None:
    client = kiosk.test_client()
    live = kiosk.extensions["masar_kiosk"].sessions.start("d1", "detainee")
    with client.session_transaction() as cookie:
        cookie["token"] = live.token
    for evil in [*TRAVERSALS, "..%2fsecret.txt", "../kiosk/secret.txt"]:
        for path in (f"/media/phq9/{evil}", f"/media/{evil}/x.ogg", f"/prompt/{evil}.wav"):
            answer = client.get(path)
            assert answer.status_code in (302, 404, 405, 308), f"{path}: {answer.status}"
            assert not any(secret in answer.data for secret in [*SECRETS, b"kiosk secret"])


# --- oversized uploads ----------------------------------------------------------------------


def test_oversized_uploads_are_refused_in_plain_words(hub: Hub) -> None:
    api = hub.client("admin")
    huge = b"PK\x03\x04" + b"\0" * (UPLOAD_LIMIT_MB * MB + 1)
    answer = api.client.post(
        f"{PREFIX}/questionnaires", data=huge, headers={"Content-Type": XLSX, **_bearer(api)}
    )
    assert answer.status_code == 413
    assert answer.get_json()["error"] == f"the upload is too large ({UPLOAD_LIMIT_MB} MB at most)"
    over_form_limit = api.post(
        f"{PREFIX}/questionnaires",
        data=b"PK\x03\x04" + b"\0" * (5 * MB + 10),
        headers={"Content-Type": XLSX},
    )
    assert over_form_limit.status_code == 413 and "MB" in over_form_limit.get_json()["error"]
    big_json = api.client.post(
        f"{PREFIX}/detainees",
        data=b'{"name_latin": "' + b"a" * (UPLOAD_LIMIT_MB * MB) + b'"}',
        headers={"Content-Type": "application/json", **_bearer(api)},
    )
    assert big_json.status_code == 413

    web = browser(hub, "admin")
    page = web.get("/questionnaires/upload").text
    sent = web.post(
        "/questionnaires/upload",
        data=multipart(token_of(page), huge),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert sent.status_code == 413
    assert 'class="message"' in sent.text and str(UPLOAD_LIMIT_MB) in sent.text
    assert web.get("/questionnaires").status_code == 200  # still logged in, nothing broken
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "questionnaire.import")) == 0  # fmt: skip


BOUNDARY = "masar-abuse-boundary"


def multipart(csrf_token: str, content: bytes) -> bytes:
    """A browser's upload form, written out (the test client would spool it to a file)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{csrf_token}\r\n--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.xlsx"\r\n'
        f"Content-Type: {XLSX}\r\n\r\n"
    )
    return head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


# --- login throttling ---------------------------------------------------------------------


def test_password_guessing_is_throttled_by_name_and_by_address(hub: Hub) -> None:
    guesser = from_address(hub, "127.0.0.7")
    for attempt in range(users.MAX_FAILURES["user"]):
        name = "REGISTRAR" if attempt % 2 else "registrar"  # the case changes nothing
        assert log_in(guesser, name, f"guess number {attempt}").status_code == 401
    locked = log_in(from_address(hub, "127.0.0.8"), "registrar")
    assert locked.status_code == 429  # the right password, from elsewhere: still locked
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert session_cookie(locked) is None
    api = hub.client()
    refused = api.client.post(
        f"{PREFIX}/session", json={"username": "registrar", "password": PASSWORD}
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "token" not in refused.get_json()

    sprayer = from_address(hub, "127.0.0.9")
    names = [f"nobody-{n}" for n in range(users.MAX_FAILURES["address"])]
    answers = [log_in(sprayer, name, "password1234").status_code for name in names]
    assert answers == [401] * len(names)  # an unknown name is refused like a known one
    blocked = log_in(sprayer, "trainer")  # a real user and password, from that address
    assert blocked.status_code == 429
    assert browser(hub, "trainer", address="127.0.0.10").get("/training").status_code == 200


# --- headers ----------------------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(hub: Hub) -> None:
    web = hub.app.test_client()
    tls = "https://hub.example"  # as served by gunicorn --certfile
    login = log_in(web, "admin", base_url=tls)
    cookie = next(h for h in login.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    assert {"HttpOnly", "Secure", "SameSite=Strict"} <= {p.strip() for p in cookie.split(";")}
    api = hub.client("admin")
    answers = {
        "login page": hub.app.test_client().get("/login"),
        "page": web.get("/fleet", base_url=tls),
        "missing page": web.get("/nothing-here", base_url=tls),
        "refused page": browser(hub, "trainer").get("/fleet"),
        "static file": web.get("/static/hub.css", base_url=tls),
        "health check": web.get("/healthz", base_url=tls),
        "API": api.get(f"{PREFIX}/me"),
        "API without login": hub.client().get(f"{PREFIX}/me"),
        "API not found": api.client.get(f"{PREFIX}/nothing-here", headers=_bearer(api)),
        "OpenAPI": api.get(f"{PREFIX}/openapi.json"),
    }
    answers["static file"].close()  # sent from the file: the headers are all we read
    for name, answer in answers.items():
        headers = answer.headers
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, name
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, name
        assert "no-store" in headers.get("Cache-Control", "") or name == "static file", name
    assert "max-age=" in answers["page"].headers["Strict-Transport-Security"]
    assert "Strict-Transport-Security" not in answers["login page"].headers  # plain http
