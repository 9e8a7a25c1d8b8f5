"""Staff actions behind the dashboard: closing connections, deleting messages, editing and
archiving rooms. What the dashboard reads is in chat/selectors/moderation.py."""

from __future__ import annotations

from chat.selectors.moderation import session_connection_ids
from chat.services.rooms import room_text_check
from lambdas.errors import ConnectionNotFound
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.models import ARCHIVED, Connection, Room
from lambdas.protocol import message_id_check
from lambdas.services.broadcast import connections_forget
from lambdas.services.messages import message_remove
from lambdas.services.rooms import room_check, room_get
from lambdas.tokens import User

# -- connections -------------------------------------------------------------------------------


def connection_disconnect(*, api: ManagementApi, connection_id: str) -> bool:
    """Close a connection (DELETE @connections). False if it was already gone: the stale item
    is forgotten (_close). Its $disconnect cleans up the rest."""
    try:
        Connection.get(connection_id)
    except Connection.DoesNotExist:
        raise ConnectionNotFound(f"there is no connection {connection_id!r}") from None
    return _close(api, connection_id)


def _close(api: ManagementApi, connection_id: str) -> bool:
    """DELETE @connections; False on a 410, which means what it means everywhere
    (broadcast.connections_forget): the item goes unless its $connect may still be running."""
    try:
        api.delete(connection_id)
        return True
    except ConnectionGone:
        connections_forget([connection_id])
        return False


def user_disconnect(*, api: ManagementApi, user_id: str) -> int:
    """Close every connection of a user; how many there were."""
    ids = [c.connection_id for c in Connection.user_index.query(user_id)]
    for connection_id in ids:
        _close(api, connection_id)
    return len(ids)


def session_disconnect(*, api: ManagementApi, user_id: str, session_id: str) -> int:
    """Close the user's connections of one browser session; how many were still open."""
    ids = session_connection_ids(user_id=user_id, session_id=session_id)
    return sum(_close(api, connection_id) for connection_id in ids)


# -- messages ----------------------------------------------------------------------------------


def message_moderate(*, api: ManagementApi, room: str, message_id: str, staff: User) -> None:
    """Delete any message as staff; the room gets `message_deleted`."""
    message_remove(
        api=api, room=room_check(room), message_id=message_id_check(message_id), deleter=staff
    )


# -- rooms -------------------------------------------------------------------------------------


def room_update(*, name: str, title: str, description: str) -> Room:
    room = room_get(name=name)
    title, description = room_text_check(name=room.name, title=title, description=description)
    room.update(actions=[Room.title.set(title), Room.description.set(description)])
    return room


def room_archive(*, api: ManagementApi, name: str) -> int:
    """Archive a room and close its live connections; how many were closed."""
    room = room_get(name=name)
    # First, so nobody joins while we close; off the list of open rooms with the same write.
    room.update(actions=[Room.status.set(ARCHIVED), Room.legacy_archived.remove()])
    return sum(_close(api, c.connection_id) for c in Connection.room_index.query(room.name))


def room_unarchive(*, name: str) -> Room:
    room = room_get(name=name)
    room.update(actions=[Room.status.set(room.listed_status), Room.legacy_archived.remove()])
    return room


# -- the overview ------------------------------------------------------------------------------
