"""Remote HTML made safe once, on arrival (fediaid/federation/sanitize.py, over nh3): Mastodon's
allow-list, and the plain text of remote HTML. Profiles are sanitized where actor documents
are parsed (fediaid/federation/parse.py)."""

from __future__ import annotations

import pytest

from fediaid.federation.parse import parse_actor
from fediaid.federation.sanitize import MAX_HTML, html_to_text, sanitize_html
from tests.support.remote import remote_actor

REL = 'rel="nofollow noopener noreferrer"'


@pytest.mark.parametrize(("dirty", "clean"), [
    # Mastodon's tags stay, others go with their text kept.
    ("<p>a<br>b <strong>c</strong> <em>d</em> <b>e</b> <i>f</i> <u>g</u> <del>h</del></p>",
     "<p>a<br>b <strong>c</strong> <em>d</em> <b>e</b> <i>f</i> <u>g</u> <del>h</del></p>"),
    ("<pre><code>x = 1\n  y</code></pre><blockquote>q</blockquote>",
     "<pre><code>x = 1\n  y</code></pre><blockquote>q</blockquote>"),
    ("<table><tr><td>cell</td></tr></table><font color=red>f</font><img src=x>",
     "cellf"),
    # Headings as Mastodon shows them; div/section/article as paragraphs, nested as a
    # browser would; empty paragraphs dropped.
    ('<h2 id="x">Soup</h2><div class="a"><p>one</p></div><section>two</section>',
     "<p><strong>Soup</strong></p><p>one</p><p>two</p>"),
    ("<article><h6>T</h6>body</article>", "<p><strong>T</strong></p>body"),
    # Lists: start, reversed and value only as numbers.
    ('<ol start="3" reversed type="a"><li value="7">x</li><li value="x7">y</li></ol>',
     '<ol start="3" reversed=""><li value="7">x</li><li>y</li></ol>'),
    # Classes: microformats and Mastodon's four only, on a and span.
    ('<span class="h-card p-name e-content dt-published invisible ellipsis evil">n</span>'
     '<p class="mention">p</p>',
     '<span class="h-card p-name e-content dt-published invisible ellipsis">n</span>'
     "<p>p</p>"),
    ('<p lang="en" title="t" dir="rtl" id="i">x</p>', "<p>x</p>"),
    ('<a href="https://x.example/" class="mention hashtag u-url" rel="me" title="t">@a</a>',
     f'<a href="https://x.example/" class="mention hashtag u-url" {REL}>@a</a>'),
    # Links: absolute http(s) only.
    ('<a href="HTTP://x.example/a?b=1&amp;c=2">u</a>',
     f'<a href="HTTP://x.example/a?b=1&amp;c=2" {REL}>u</a>'),
    ('<a href="ftp://x/">f</a><a href="/relative">r</a><a href="//x.example/">s</a>'
     '<a href="gemini://x/">g</a><a href="java\tscript:alert(1)">j</a>',
     f"<a {REL}>f</a><a {REL}>r</a><a {REL}>s</a><a {REL}>g</a><a {REL}>j</a>"),
    # Dropped with their content; comments dropped.
    ("a<script>b</script><style>c</style><template>d</template><iframe>e</iframe>"
     "<noscript>f</noscript><textarea>g</textarea><select><option>h</select>"
     "<svg><text>i</text></svg><math><mi>j</mi></math><object>k</object><!-- l -->m",
     "am"),
    ("", ""),
    ("plain & simple < 3", "plain &amp; simple &lt; 3"),
])
def test_mastodon_allow_list(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty) == clean


def test_known_mutation_tricks_stay_harmless() -> None:
    for dirty in (
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        "<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">",
        '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
        '<a href="https://ok.example/&quot;><script>alert(1)</script>">x</a>',
        "<p><h1 onclick=alert(1)>x</h1></p>",
        '<div a="<h1>"><h1 b=">">x</h1></div>',
    ):
        out = sanitize_html(dirty)
        assert "<img" not in out and "<script" not in out and "onerror" not in out, out
        assert "onclick" not in out and "<style" not in out, out
        assert sanitize_html(out) == out, out  # stable: what is stored is what is shown


def test_only_so_much_is_looked_at() -> None:
    out = sanitize_html("<p>" + "x" * (MAX_HTML * 2) + "</p>")
    assert out == "<p>" + "x" * (MAX_HTML - 3) + "</p>"


def test_plain_text() -> None:
    assert html_to_text("<h1>T</h1><div>a<br>b</div><ul><li>c<li>d</ul>e&amp;f&nbsp;g") == \
        "T\na\nb\nc\nd\ne&f g"
    assert html_to_text("x<script>y</script><style>z</style><!-- c -->w") == "xw"
    assert html_to_text("<p>  spaced  out  </p><p></p>") == "spaced out"
    assert html_to_text('<p title="a>b" lang="en">x</p>') == "x"
    assert html_to_text("") == ""


def test_remote_profiles_are_sanitized_when_parsed() -> None:
    doc = remote_actor("bob").document()
    summary = ('<p class="x">Hi <script>alert(1)</script><a href="javascript:x">me</a>'
               '<a href="https://r.example/tags/soup" class="mention hashtag">#soup</a></p>')
    data = parse_actor(doc | {"summary": summary})
    assert data.summary == (
        f'<p>Hi <a {REL}>me</a><a href="https://r.example/tags/soup" '
        f'class="mention hashtag" {REL}>#soup</a></p>')
    for empty in ("<script>x</script>", "", None, 5, ["<p>x</p>"]):
        assert parse_actor(doc | {"summary": empty}).summary is None
