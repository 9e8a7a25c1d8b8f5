"""Two people in Chromium talk to each other through the site, the gateway and dynalite."""

from tests.browser.chatpage import screenshot, send, shown


def test_two_users_talk_in_a_room(open_chat, room):
    """Alice's message appears on Bob's page once; user text is shown as text, never as HTML."""
    alice = open_chat(room, "alice")
    bob = open_chat(room, "bob")
    send(alice, "hi bob, it's alice")
    bob.locator("#messages li.message", has_text="hi bob, it's alice").wait_for()
    alice.locator(
        "#messages li.message.own:not(.pending)", has_text="hi bob, it's alice"
    ).wait_for()

    hostile = '<img src=x onerror="document.body.dataset.pwned=1"><script>1</script>'
    send(bob, hostile)
    alice.locator("#messages li.message", has_text="<img src=x").wait_for()
    assert alice.locator("#messages img, #messages script").count() == 0
    assert alice.evaluate("document.body.dataset.pwned") is None
    assert [(m["author"], m["text"], m["own"]) for m in shown(alice)] == [
        ("alice", "hi bob, it's alice", True),
        ("bob", hostile, False),
    ]

    screenshot(alice, "chat-alice")
    screenshot(bob, "chat-bob")


def test_a_room_created_on_the_rooms_page_opens_and_is_listed(open_chat, room):
    """From the header's Rooms link: a search finds the room and shows who is online, and the
    form opens a new room."""
    bob = open_chat(room, "bob")  # two people are online in `room`
    open_chat(room, "carol")
    bob.locator("#presence li", has_text="carol").wait_for()  # his list says two: so will the page
    page = open_chat("general", "alice")  # (leaving `room` herself would make it one)
    page.click("#nav-rooms")
    page.wait_for_selector("#room-list")
    page.fill("#room-search-input", room)
    page.click("#room-search [type=submit]")
    page.wait_for_url(f"**/rooms/?q={room}")
    assert page.locator("li.room").count() == 1
    assert page.locator(f"li.room[data-room='{room}'] .online").text_content() == "2 online"
    screenshot(page, "rooms")

    name = f"{room}-new"
    page.fill("#id_name", "Not Valid")
    page.click("#room-create-form [type=submit]")
    assert page.locator("#room-create-form .errorlist").text_content().startswith("room names are")
    page.fill("#id_name", name)
    page.fill("#id_title", "Fresh start")
    page.fill("#id_description", "Made in a test")
    page.click("#room-create-form [type=submit]")
    page.wait_for_selector("#status[data-state=live]")
    assert page.url.endswith(f"/rooms/{name}/")
    assert page.locator(".room-name").text_content() == f"Fresh start #{name}"
    assert page.locator(".room-description").text_content() == "Made in a test"
    send(page, "first!")
    page.locator("#messages li.message.own:not(.pending)").wait_for()
    assert bob.locator("#messages li.message").count() == 0  # another room
