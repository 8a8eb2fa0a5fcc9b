"""Every page in Spanish, with nothing left in English (issue 10, "English and Spanish
complete"). One instance is filled with what the pages show (posts and answers, an
exchange, a waiting post, reports and a takedown, invitations, a request to join, a role
change waiting, a server rule, the group's log...), written in Spanish; then every page a
visitor, a member and a coordinator can open is read with a Spanish browser. Its visible
words (text, and the labels screen readers read) must not hold English words: any word
left unmarked in a template, or marked in Python and shown untranslated, fails here. Forms
sent with mistakes answer in Spanish too."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pyotp
from jinja2 import Environment, nodes

from api.web.render import TEMPLATES
from fediaid.domain.actors import Role
from fediaid.domain.reports import Action, TakedownAction
from fediaid.services.runtime import Runtime
from fediaid.storage import posts as posts_repo
from tests.api.test_web_posts import Login, form, post_need
from tests.api.test_web_posts import login as login  # the fixture

ES = {"Accept": "text/html", "Accept-Language": "es-MX,es;q=0.9"}

# Words of English sentences that are not Spanish words. A page in Spanish has none of
# them outside what people typed (which the instance below writes in Spanish).
ENGLISH = frozenset("""
the you your and with for this that these those is are was were been be being of to from
by it its they their them we our us can could will would should has have had not or an at
on in if as so than then after before do does did who what when where which here there
please only all any each how why yet none nothing nobody someone everyone back save send
post posts need needs offer offers answer answers member members coordinator coordinators
group groups log login settings report reports delete remove block mute page link links
""".split())

# Names of other programs' buttons and settings, quoted as they are (they are not ours to
# translate), and the group's own name in the test instance.
NOT_OURS = ("SMS Gateway for Android", "Google Authenticator", "Settings, Webhooks, Signing Key",
            "A message comes in", "Messaging Service, Opt-Out Management", "Elm St Mutual Aid",
            "Export/Import")


class _Visible(HTMLParser):
    """What a person sees or hears of a page: text outside scripts, styles, text areas,
    code (secrets, keys) and what is marked translate="no" (the built-in keywords, in both
    languages), and the words of aria-label, title, alt and placeholder."""

    SKIP = {"script", "style", "textarea", "code"}
    EMPTY = {"br", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._open: list[tuple[str, bool]] = []  # open elements: whether words are skipped

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        skipping = self._skipping() or tag in self.SKIP or ("translate", "no") in attrs
        if tag not in self.EMPTY:
            self._open.append((tag, skipping))
        if not skipping:
            for name, value in attrs:
                if name in ("aria-label", "title", "alt", "placeholder") and value:
                    self.words.append(value)

    def handle_endtag(self, tag: str) -> None:
        # Elements left open (an <option> in a datalist) close with their parent.
        if any(t == tag for t, _ in self._open):
            while self._open and self._open.pop()[0] != tag:
                pass

    def _skipping(self) -> bool:
        return bool(self._open) and self._open[-1][1]

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.words.append(data)


def english_words(page: str) -> list[str]:
    """The English words left on a page (with a little of what surrounds each)."""
    parser = _Visible()
    parser.feed(page)
    text = " ".join(" ".join(parser.words).split())
    for name in NOT_OURS:
        text = text.replace(name, " ")
    # Addresses, hashtags, time zones, and "need:" / "food:" as typed in keyword lists.
    text = re.sub(r"https?://\S+|\S*@\S+|#\w+|\b\w+(?:/\w+)+\b|\b(?:need|offer):", " ", text)
    found = []
    for m in re.finditer(r"[^\W\d_]+", text):
        word = m.group(0)
        if word.isupper() and len(word) > 1:
            continue  # NEED, STOP, CSV: words people type or know as they are
        if word.lower() in ENGLISH:
            found.append(f"{text[max(0, m.start() - 40):m.start()]}[{word}]"
                         f"{text[m.end():m.end() + 40]}")
    return found


async def spanish(c: httpx.AsyncClient, path: str, status: int = 200) -> str:
    r = await c.get(path, headers=ES)
    assert r.status_code == status, (path, r.status_code)
    assert '<html lang="es">' in r.text, path
    left = english_words(r.text)
    assert not left, (path, left)
    return r.text


async def fill(rt: Runtime, login: Login) -> dict[str, object]:
    """An instance with something on every page, written in Spanish."""
    admin, maria = await login("admin"), await login("maria")
    await login("coordina")  # a second coordinator: role changes wait for one
    await rt.accounts.create_user("luis", role=Role.MEMBER)
    admin_u, maria_u = await rt.accounts.get_user("admin"), await rt.accounts.get_user("maria")
    await rt.group_settings.set_areas(admin_u, [("centro", "Centro"), ("norte", "Norte")])
    need = await post_need(maria, "Dos bolsas de comida para una familia de cuatro.",
                           quantity="2", unit="bolsas", area="centro")
    offer = await rt.posts.create(admin_u, {"kind": "offer",
                                            "description": "Presto una escalera."})
    other = await rt.posts.create(maria_u, {"kind": "need",
                                            "description": "Alguien que pasee al perro."})
    held = await rt.posts.create(maria_u, {"kind": "need", "description": "Una cobija."})
    async with rt.db.write() as conn:
        await posts_repo.update_fields(conn, held.id, {"held": True})
    answer = await rt.responses.respond(admin_u, need, message="Yo puedo llevarlas.")
    conversation = await rt.responses.accept(maria_u, answer.id)
    await rt.responses.send(maria_u, conversation.id, "Gracias, ¿a qué hora?")
    await rt.reports.create(maria_u, post_ids=[offer.id], comment="No me parece bien.")
    settled = await rt.reports.create(maria_u, post_ids=[offer.id], comment="Otra vez.")
    await rt.reports.act(admin_u, settled.id, Action.DISMISS, note="Está bien así.")
    await rt.reports.take_down(admin_u, action=TakedownAction.HIDE, reason="Datos privados",
                               post_id=other.id)
    _invitation, invited = await rt.joining.invite(admin_u, uses="3", days="7",
                                                   note="Para la vecina del cuatro")
    await rt.joining.ask(name="Rosa", message="Quiero ayudar.", contact="En la plaza")
    await rt.roles.change(admin_u, "luis", Role.COORDINATOR)  # waits for a second one
    await rt.blocklists.set_rule(admin_u, "spam.example", "suspend", reason="Molesta",
                                 comment="Anuncios")
    await rt.group_settings.set_category(admin_u, "pet-care", "Pet care", active=False)
    await rt.blocks.block_domain(maria_u, "ruido.example")
    return {"admin": admin, "maria": maria, "need": need, "offer": offer.id,
            "conversation": conversation.id,
            "invited": invited.removeprefix(rt.settings.base_url)}


async def test_every_page_in_spanish(runtime: Runtime, login: Login) -> None:
    made = await fill(runtime, login)
    admin, maria = made["admin"], made["maria"]
    assert isinstance(admin, httpx.AsyncClient) and isinstance(maria, httpx.AsyncClient)
    need, offer, cid = made["need"], made["offer"], made["conversation"]
    member_pages = ["/", "/?kind=need&q=bolsas", "/posts/new?kind=need", "/posts/new?kind=offer",
                    f"/posts/{need}", f"/posts/{need}/edit", f"/posts/{offer}", "/my/posts",
                    "/notifications", "/conversations", f"/conversations/{cid}",
                    "/settings/limits", "/settings/password", "/settings/blocks",
                    "/settings/two-factor", "/settings/language", "/settings/email",
                    "/account/data", "/account/delete", f"/report?post={offer}",
                    "/reports", "/@admin", "/picture", "/picture/network", "/flyer", "/audit",
                    "/directory"]
    for path in member_pages:
        await spanish(maria, path)
    coordinator_pages = ["/admin", "/admin/settings", "/admin/categories", "/admin/areas",
                         "/admin/held", "/admin/reports", "/admin/reports?state=resolved",
                         "/admin/domains", "/admin/members", "/admin/invitations",
                         "/admin/profile", "/admin/email", "/admin/sms", "/admin/texts",
                         "/admin/hotline", "/admin/network", "/admin/alerts", "/audit", "/intake",
                         f"/posts/{need}", "/settings/two-factor", "/picture"]
    for path in coordinator_pages:
        await spanish(admin, path)
    # Two-factor login: setting it up (the QR code's title too), then on, with its codes.
    admin_user = await runtime.accounts.get_user("admin")
    enrolment = await runtime.two_factor.begin(admin_user)
    page = await spanish(admin, "/settings/two-factor")
    assert "<title>Código QR para su app</title>" in page
    r = await admin.post("/settings/two-factor", headers=ES, data=form(
        page, "/settings/two-factor") | {"action": "confirm",
                                          "code": pyotp.TOTP(enrolment.secret).now()})
    assert r.status_code == 200 and not english_words(r.text), english_words(r.text)
    await spanish(admin, "/settings/two-factor")
    await spanish(maria, "/admin", status=403)
    # An app asking to use the account: what each scope lets it do, in Spanish.
    app = (await maria.post("/api/v1/apps", data={
        "client_name": "Tusky", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
        "scopes": "read write:statuses follow"})).json()
    consent = await spanish(maria, "/oauth/authorize?response_type=code&client_id="
                            f"{app['client_id']}&redirect_uri=urn:ietf:wg:oauth:2.0:oob"
                            "&scope=read+write:statuses+follow")
    assert "cambiar sus publicaciones" in consent
    visitor = httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url))
    async with visitor:
        for path in ("/", "/login", "/login/email", "/join", "/flyer", "/directory",
                     str(made["invited"])):
            await spanish(visitor, path)
        await spanish(visitor, "/no-such-page", status=404)
        bare = await spanish(visitor, "/logout", status=405)  # the page without the site
        assert "Método no permitido." in bare and "Lo sentimos" in bare
    # The log says what coordinators did in Spanish too (the words were kept marked).
    log = await spanish(maria, "/audit")
    assert "bloqueó el servidor spam.example" in log and "propuso que luis" in log


async def test_forms_with_mistakes_answer_in_spanish(runtime: Runtime, login: Login) -> None:
    admin, maria = await login("admin"), await login("maria")

    async def send(c: httpx.AsyncClient, page: str, action: str, status: int,
                   **values: str) -> str:
        form_page = (await c.get(page, headers=ES)).text
        r = await c.post(action, headers=ES, data=form(form_page, action) | values)
        assert r.status_code == status, (action, r.status_code, r.text[:300])
        assert not english_words(r.text), (action, english_words(r.text))
        return r.text

    said = await send(maria, "/posts/new?kind=need", "/posts/new", 400,
                      description="Harina y arroz.", quantity="mucho")
    assert "«cantidad» tiene que ser un número" in said
    said = await send(maria, "/posts/new?kind=need", "/posts/new", 400,
                      description="Harina.", area="Calle Olmo 123")
    assert "no una dirección" in said
    said = await send(admin, "/admin/settings", "/admin/settings", 400, expiry_days="999")
    assert "tiene que estar entre 1 y 365" in said
    said = await send(admin, "/admin/invitations", "/admin/invitations", 400, uses="0")
    assert "Por favor indique cuántas personas" in said
    said = await send(admin, "/admin/areas", "/admin/areas", 400, areas="centro = A\ncentro = B")
    assert "ya se usa en la línea 1" in said
    said = await send(maria, "/settings/password", "/settings/password", 400, password="corta")
    assert "al menos 10 caracteres" in said
    said = await send(maria, "/settings/limits", "/settings/limits", 400, cap="500")
    assert "entre 1 y 100" in said
    said = await send(admin, "/admin/domains", "/admin/domains", 400, do="rule",
                      domain="https://", severity="suspend")
    assert "nombre de dominio" in said
    visitor = httpx.AsyncClient(transport=admin._transport, base_url=str(admin.base_url))
    async with visitor:
        said = await send(visitor, "/login", "/login", 401, username="maria",
                          password="no es esta")
        assert "no coinciden" in said


def _printed_as_is(node: nodes.Node) -> list[str]:
    """String constants a template prints without _() ({{ 'Save' if x else 'Change' }})."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, nodes.CondExpr):
        return _printed_as_is(node.expr1) + (
            _printed_as_is(node.expr2) if node.expr2 is not None else [])
    return []


def unmarked_words(source: str, env: Environment) -> list[str]:
    """Words a template shows that are not marked for translation: text between tags
    outside {% trans %} blocks, screen-reader attributes, and strings printed as they are.
    Template expressions and tags count as a space (what they print is checked on the
    pages above)."""
    found: list[str] = []
    for output in env.parse(source).find_all(nodes.Output):
        for child in output.nodes:
            found += [s for s in _printed_as_is(child) if re.search(r"[^\W\d_]{2}", s)]
    text = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    text = re.sub(r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}", " ", text, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.S)
    for value in re.findall(r'(?:aria-label|title|alt|placeholder)="([^"]*)"', text):
        if " " in value.strip():  # a sentence (one-word values are examples: smtp.example.org)
            found.append(value)
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r'[\w-]+="[^"]*"', " ", text)  # attributes written between {% if %} tags
    for word in text.split():  # a path (/directory.json) or an entity (&nbsp;) is no word
        if re.search(r"[^\W\d_]{2}", word) and not word.startswith(("/", "&")):
            found.append(word)
    return found


def test_every_template_marks_its_words() -> None:
    """Pages not reached above (a rare branch) are covered here: no template shows words
    outside _() or {% trans %}."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    for path in sorted(TEMPLATES.glob("*.html")):
        assert unmarked_words(path.read_text(encoding="utf-8"), env) == [], path.name
