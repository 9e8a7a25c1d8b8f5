"""Reactions in Chromium: one reacts from the palette, both pages show it with its count, and
a click on a reaction adds or takes back one's own."""

from tests.browser.chatpage import send


def reaction(page, emoji: str):
    return page.locator(f"#messages li.message .reaction[data-emoji='{emoji}']")


def test_a_reaction_shows_on_both_pages_and_toggles(open_chat, room):
    alice = open_chat(room, "alice")
    bob = open_chat(room, "bob")
    send(alice, "lunch at noon?")
    message = bob.locator("#messages li.message", has_text="lunch at noon?")
    message.wait_for()

    message.hover()
    message.locator("button.react").click()
    message.locator(".palette button.pick", has_text="🎉").click()
    for page in (alice, bob):
        reaction(page, "🎉").wait_for()
        assert reaction(page, "🎉").text_content() == "🎉 1"
    assert reaction(bob, "🎉").get_attribute("aria-pressed") == "true"
    assert reaction(alice, "🎉").get_attribute("aria-pressed") == "false"
    assert reaction(alice, "🎉").get_attribute("title") == "bob"

    reaction(alice, "🎉").click()  # alice adds hers
    bob.locator("#messages .reaction[data-emoji='🎉']", has_text="🎉 2").wait_for()
    reaction(bob, "🎉").click()  # bob takes his back
    alice.locator("#messages .reaction[data-emoji='🎉']", has_text="🎉 1").wait_for()
    assert reaction(alice, "🎉").get_attribute("title") == "alice"
