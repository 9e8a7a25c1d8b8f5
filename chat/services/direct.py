"""Direct conversations: a private room whose members are exactly two to eight people, found
again by the same set of people. Its name is a digest of their user ids, so the same people
always get the same room, and a conditional write makes a second one impossible."""

from __future__ import annotations

import contextlib
import hashlib

from pynamodb.exceptions import PutError

from chat.services.members import member_put
from lambdas.errors import AlreadyAMember, InvalidRequest
from lambdas.models import PRIVATE, Member, Room, condition_failed, utcnow
from lambdas.services.rooms import DIRECT_PREFIX

MAX_DIRECT_PEOPLE = 8


def direct_name(user_ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(set(user_ids))).encode()).hexdigest()
    return f"{DIRECT_PREFIX}{digest[:32]}"


def direct_open(*, people: list[tuple[str, str]], opened_by: str) -> Room:
    """The conversation of exactly these people ((user id, username) pairs, the opener among
    them): made on first use, the same room ever after."""
    by_id = dict(people)
    if len(by_id) < 2:
        raise InvalidRequest("a conversation needs someone besides you")
    if len(by_id) > MAX_DIRECT_PEOPLE:
        raise InvalidRequest(f"a conversation has at most {MAX_DIRECT_PEOPLE} people")
    people_names = sorted(by_id.values())
    room = Room(
        direct_name(list(by_id)),
        title=", ".join(people_names),
        people=people_names,
        description="",
        created_by=opened_by,
        created_at=utcnow(),
        status=PRIVATE,
        private=True,
        direct=True,
    )
    try:
        room.save(condition=Room.name.does_not_exist())
    except PutError as error:
        if not condition_failed(error):
            raise
        room = Room.get(room.name)
    # Checked every time, so a first opening interrupted between its writes is completed by
    # the next one: one Query, and a write only for who is missing.
    present = {member.user_id for member in Member.query(room.name)}
    for user_id, username in sorted(by_id.items()):
        if user_id not in present:
            with contextlib.suppress(AlreadyAMember):  # a concurrent opening added them
                member_put(room=room.name, user_id=user_id, username=username, added_by=opened_by)
    return room
