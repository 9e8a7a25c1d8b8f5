"""Messages' Markdown (static/chat/markdown.js) in Chromium: the subset renders, everything else
stays text, links are only http(s)/mailto with safe attributes, hostile input never puts an
element outside the allow-list, an `on…` attribute or another scheme in the DOM, and the worst
4,000-character inputs render within the issue's 50 ms."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.browser.chatpage import DEADLINE_MS
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

HARNESS = "/markdown-harness/"
ALLOWED = {"P", "BR", "STRONG", "EM", "DEL", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "A"}
OUTPUT = ALLOWED | {"SPAN"}  # spans: the mentions, added by the renderer after sanitizing

# Render `text` into a live <div> (the DOM the page would have) and describe every element.
RENDER = """([text, username]) => {
    const box = document.getElementById("out");
    box.replaceChildren(window.md.renderMarkdown(text, { viewer: { username } }));
    return {
        html: box.innerHTML,
        text: box.textContent,
        elements: [...box.querySelectorAll("*")].map((el) => ({
            tag: el.tagName,
            attrs: Object.fromEntries([...el.attributes].map((a) => [a.name, a.value])),
        })),
    };
}"""


@contextlib.contextmanager
def harness(live_server, body: str, script: str) -> Iterator:
    """A page of the live site's origin (served by the test itself) whose module `script` imports
    the real modules from /static/ and sets `window.ready`; the chat's stylesheets are linked."""
    from playwright.sync_api import sync_playwright

    page_html = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>harness</title>"
        "<link rel=stylesheet href=/static/chat/chat.css>"
        "<link rel=stylesheet href=/static/chat/messages.css>"
        f"<body>{body}<script type=module>{script}; window.ready = true;</script></body>"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-GB", timezone_id="Europe/Paris")
        page = context.new_page()
        page.set_default_timeout(DEADLINE_MS)
        page.route(
            f"{live_server.url}{HARNESS}",
            lambda route: route.fulfill(body=page_html, content_type="text/html"),
        )
        page.goto(f"{live_server.url}{HARNESS}")
        page.wait_for_function("() => window.ready === true")
        yield page
        browser.close()


@pytest.fixture
def md(live_server) -> Iterator:
    """The harness page with `window.md`: static/chat/markdown.js."""
    script = "import * as md from '/static/chat/markdown.js'; window.md = md"
    with harness(live_server, "<div id=out></div>", script) as page:
        yield page


def render(page, text: str, username: str = "alice") -> dict:
    return page.evaluate(RENDER, [text, username])


def tags(result: dict) -> list[str]:
    return [element["tag"] for element in result["elements"]]


def assert_safe(result: dict) -> None:
    for element in result["elements"]:
        assert element["tag"] in OUTPUT, element
        for name, value in element["attrs"].items():
            assert not name.lower().startswith("on"), element
            assert name in {"href", "rel", "target", "start", "class"}, element
            if name == "href":
                assert value.lower().startswith(("http://", "https://", "mailto:")), element
            if name == "class":
                assert element["tag"] == "SPAN" and value in {"mention", "mention me"}, element
        if element["tag"] == "A":
            assert element["attrs"].get("rel") == "noopener noreferrer nofollow", element
            assert element["attrs"].get("target") == "_blank", element


def test_the_subset_renders(md):
    """Bold, italics, strikethrough, inline and fenced code, quotes and lists become elements."""
    result = render(md, "**bold** *it* _it2_ ~~gone~~ `x < y`")
    assert tags(result) == ["P", "STRONG", "EM", "EM", "DEL", "CODE"]
    assert result["text"] == "bold it it2 gone x < y"

    fenced = render(md, "```python\nif a < b:\n    print('<b>')\n```")
    assert tags(fenced) == ["PRE", "CODE"]
    assert fenced["elements"][1]["attrs"] == {}  # no language class
    assert fenced["text"] == "if a < b:\n    print('<b>')\n"

    quoted = render(md, "> said\n\n- one\n- two\n\n3. three\n4. four")
    assert tags(quoted) == ["BLOCKQUOTE", "P", "UL", "LI", "LI", "OL", "LI", "LI"]
    assert quoted["elements"][5]["attrs"] == {"start": "3"}


def test_lines_stay_lines(md):
    """A single newline is a line break, as typed in a chat."""
    assert tags(render(md, "one\ntwo")) == ["P", "BR"]


def test_links_are_http_https_or_mailto_with_safe_attributes(md):
    result = render(
        md,
        "[site](https://example.com/a?b=1) see http://example.org/x). "
        "[mail](mailto:bob@example.com) [bad](javascript:alert(1)) [rel](/rooms/) "
        "[data](data:text/html,<b>x</b>) <javascript:alert(1)>",
    )
    assert_safe(result)
    links = [e["attrs"]["href"] for e in result["elements"] if e["tag"] == "A"]
    assert links == [
        "https://example.com/a?b=1",
        "http://example.org/x",
        "mailto:bob@example.com",
    ]
    assert "[bad](javascript:alert(1))" in result["text"]
    assert "[rel](/rooms/)" in result["text"]


def test_html_images_headings_and_tables_stay_text(md):
    text = (
        "<img src=x onerror=alert(1)> <b>bold?</b>\n\n<script>alert(2)</script>\n\n"
        "![cat](https://example.com/cat.png)\n\n# not a heading\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    result = render(md, text)
    assert_safe(result)
    assert set(tags(result)) <= {"P", "BR"}
    assert "<img src=x onerror=alert(1)>" in result["text"]
    assert "<script>alert(2)</script>" in result["text"]
    assert "![cat](https://example.com/cat.png)" in result["text"]
    assert "# not a heading" in result["text"]


def test_mentions_are_marked_except_in_code_and_links(md):
    result = render(md, "hi @alice and @bob, `@carol` and mailto:dave@example.com", "alice")
    spans = [(e["attrs"]["class"]) for e in result["elements"] if e["tag"] == "SPAN"]
    assert spans == ["mention me", "mention"]
    assert "@carol" in result["text"]


NASTY = {
    "quotes": ">" * 4000,
    "spaced quotes": "> " * 2000,
    "stars": "*" * 4000,
    "star words": "*a" * 2000,
    "brackets": "[" * 4000,
    "link openers": "[a](" * 1000,
    "images": "![" * 2000,
    "mixed emphasis": "_*" * 2000,
    "backticks": "`a" * 2000,
    "tags": "<a " * 1333,
    "nested lists": "\n".join(" " * (2 * i) + "- x" for i in range(60))[:4000],
    "quote lists": "> - " * 1000,
    "underscores": "_a " * 1333,
    "tildes": "~~a" * 1333,
    # Fences that are not (or that do not close) must not hide the stars from the count.
    "fake fence": "```a`\n" + "*a" * 1990,
    "other fence": "~~~\n```\n~~~\n" + "*a" * 1980,
}


def test_the_worst_inputs_render_within_50_ms(md):
    """The issue's bound, as measured on the page: each 4,000-character bomb, rendered into the
    DOM, in under 50 ms. (The first render of all warms the engine up; on this machine they take
    0.1-15 ms. Each is timed 5 times and the fastest counts: another process taking the CPU
    only ever adds time, so a busy CI box does not fail it, and a real blow-up, which is slow
    every time, still does.)"""
    render(md, "warm **up** `x` > q\n- l")
    times = md.evaluate(
        """(inputs) => Object.fromEntries(Object.entries(inputs).map(([name, text]) => {
            const box = document.getElementById("out");
            let fastest = Infinity;
            for (let run = 0; run < 5; run += 1) {
              const start = performance.now();
              box.replaceChildren(window.md.renderMarkdown(text, { viewer: {} }));
              box.getBoundingClientRect(); // laid out, as on the page
              fastest = Math.min(fastest, performance.now() - start);
            }
            return [name, fastest];
        }))""",
        NASTY,
    )
    slow = {name: ms for name, ms in times.items() if ms >= 50}
    assert not slow, times
    for text in NASTY.values():
        assert len(text) <= 4000
        assert_safe(render(md, text))


def test_a_message_with_thousands_of_markers_is_shown_as_typed(md):
    """Past the renderer's budgets (300 emphasis/link/code markers, 1,000 elements, 8 levels of
    quotes and lists on a line) a message is its text, or is cut to 8 levels."""
    stars = render(md, "*a" * 2000)
    assert tags(stars) == ["P"]
    assert stars["text"] == "*a" * 2000
    links = render(md, "[a](https://example.com) " * 200)  # 400 brackets
    assert set(tags(links)) == {"P"}
    # Code is not counted: a long program pasted in a fence is still a code block.
    program = "```\n" + "x = a_b[i] * c_d[j]\n" * 150 + "```"
    assert tags(render(md, program)) == ["PRE", "CODE"]
    deep = render(md, "> " * 50 + "deep")
    assert tags(deep) == ["BLOCKQUOTE"] * 8 + ["P"]
    assert deep["text"] == "deep"


# Pieces of Markdown and HTML an attacker would combine.
PIECES = [
    "<",
    ">",
    "<script>",
    "</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<a href='javascript:alert(1)'>",
    "<iframe src=//evil>",
    "<style>",
    "<math><mi>",
    "<form><input>",
    "<details open ontoggle=alert(1)>",
    "<!--",
    "-->",
    "<![CDATA[",
    "&lt;",
    "&#x6a;avascript:",
    "javascript:",
    "JaVaScRiPt:",
    "vbscript:",
    "data:text/html,",
    "\u0000",
    "\t",
    "\n",
    "\n\n",
    " ",
    "*",
    "**",
    "_",
    "~~",
    "`",
    "```",
    "> ",
    "- ",
    "1. ",
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "[x]: ",
    "http://a.b/",
    "https://ex.com/?q=<b>",
    "mailto:a@b.c",
    "www.ex.com",
    "@alice",
    '"',
    "'",
    "onmouseover=",
    " onerror=x ",
    "style=",
    "#",
    "|",
    "\\",
]
HOSTILE = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), min_size=1, max_size=40
).map("".join)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(texts=st.lists(HOSTILE, min_size=1, max_size=10))
def test_nothing_outside_the_allow_list_ever_reaches_the_dom(md, texts):
    """Hypothesis's hostile Markdown and HTML, rendered into the page: every element is in the
    allow-list, no attribute starts with `on`, every href is http(s) or mailto."""
    results = md.evaluate(
        f"""(texts) => texts.map((text) => ({RENDER})([text, "alice"]))""",
        texts,
    )
    for text, result in zip(texts, results, strict=True):
        try:
            assert_safe(result)
        except AssertionError:
            raise AssertionError(json.dumps(text)) from None
