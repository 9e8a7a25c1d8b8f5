"""Actions and selectors on connections: open and close them, and tell the room who is here."""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from lambdas.config import get_config
from lambdas.errors import (
    InvalidRequest,
    NotAMember,
    NotConnected,
    NotInARoom,
    TooManyConnections,
)
from lambdas.management import ConnectionGone, ManagementApi
from lambdas.metrics import metric_count
from lambdas.models import Connection, connection_expiry, utcnow
from lambdas.protocol import presence_frame
from lambdas.services import limits
from lambdas.services.broadcast import broadcast, broadcast_shard, connections_forget
from lambdas.services.limits import presence_claim, presence_joined
from lambdas.services.members import member_check, reader_join
from lambdas.services.rooms import Presence, room_get_open, room_online_record, room_presence
from lambdas.services.sessions import session_check, sessions_cool_down
from lambdas.tokens import User

logger = logging.getLogger(__name__)
# A module attribute, as in broadcast.py, so tests can let the coalescing window of presence
# announcements pass at once: the window is measured by limits.clock (presence_claim), which such
# a test moves on by what it did not wait.
sleep = time.sleep


def connection_open(
    *,
    api: ManagementApi,
    connection_id: str,
    user: User,
    room: str | None,
    connected_at: datetime,
    source_ip: str | None = None,
    user_agent: str | None = None,
    lobby: bool = False,
) -> Connection:
    """Register a connection in an open room (or, `lobby`, in none: the rooms list's socket,
    which hears of its user's rooms through the by-user index), unless the user's sessions were
    ended since the token was issued, or the browser session it was issued to (TokenRevoked,
    403), or the user is cooled down after a flood (RateLimited, 429).

    A user may hold at most MAX_CONNECTIONS_PER_USER live connections (TooManyConnections, 429).
    Only connections that API Gateway still knows count: at the cap, the counted ones are asked
    for (GET @connections), so ghosts whose $disconnect was lost never refuse a real connection.
    """
    session_check(user=user, now=limits.clock())  # the clock the cooldown was set by
    if lobby and room is not None:
        raise InvalidRequest("connect with ?room= to join a room or ?lobby=1 for none, not both")
    found = None if lobby else room_get_open(name=room)
    room_name = found.name if found else None
    private = bool(found and found.private)
    if found and private:
        member_check(room=found.name, user=user)  # NotAMember, 403
    limit = get_config().max_connections_per_user
    counted = connection_ids_of(user_id=user.user_id)
    if len(counted) >= limit and len(connections_reachable(api=api, ids=counted)) >= limit:
        metric_count("ConnectionsRefused")
        raise TooManyConnections(f"you already have {limit} open connections; close one first")
    connection = Connection(
        connection_id,
        user_id=user.user_id,
        username=user.username,
        room=room_name,
        connected_at=connected_at,
        expires_at=connection_expiry(connected_at, get_config().connection_ttl_seconds),
        source_ip=source_ip or None,
        user_agent=(user_agent or "")[:512] or None,
        private=True if private else None,
        sid=user.session_id,  # logging out of that browser session closes this socket
    )
    connection.save()
    if found and private:
        # Again, now that it is stored: a removal that ran meanwhile found no socket to close.
        try:
            member_check(room=found.name, user=user)
        except NotAMember:
            connection.delete()
            raise
    if found and not private:
        # Opening a public room joins it (its unread count and mentions start): a conditional
        # put per connect, one write unit (three the first time, with the two indexes).
        reader_join(room=found, user_id=user.user_id, username=user.username)
    metric_count("ConnectionsOpened")
    # The room hears of the newcomer when it asks for presence once open (presence_join), not
    # from here: $connect holds the handshake, and a burst of reconnects would each fan out to
    # the whole room before anyone got in.
    return connection


def connection_close(*, api: ManagementApi, connection_id: str) -> None:
    """Forget a connection and tell its room; closing one that is already gone is harmless."""
    try:
        connection = Connection.get(connection_id)
    except Connection.DoesNotExist:
        return
    connection.delete()
    metric_count("ConnectionsClosed")
    if connection.room is None:  # a lobby connection was in no room
        return
    # A newer connection of theirs in the room (the socket a page handed over to, another tab)
    # keeps them on everyone's list. The newest one always announces its closing, so tabs
    # closing together still leave the list right.
    if not any(_older(connection, c) for c in _same_user_in_room(connection)):
        presence_announce(api=api, room=connection.room)


def connection_cut_off(*, api: ManagementApi, connection_id: str, user_id: str) -> None:
    """Close a connection whose user keeps sending past their bucket (limits.Flooding), and
    refuse the user's new connections for FLOOD_COOLDOWN_SECONDS: one write to the item
    `$connect` reads anyway, and a DELETE @connections. Their other connections are closed
    as each sends its next frame (refused too, past the same count)."""
    now = limits.clock()
    metric_count("ConnectionsCutOff")
    logger.warning("connection cut off for flooding", extra={"user_id": user_id})
    try:
        # First: a client that reconnects the moment its socket closes finds the cooldown.
        cooldown = get_config().flood_cooldown_seconds
        sessions_cool_down(user_id=user_id, until=now + cooldown, now=now)
    finally:  # and closed even if that failed
        # A 410: gone already. Not forgotten here (ping's role may only read connections): its
        # $disconnect does, or, if that was lost, the next broadcast's 410 (connections_forget).
        with contextlib.suppress(ConnectionGone):
            api.delete(connection_id)


def connection_move_away(*, api: ManagementApi, connection_id: str, frame: dict) -> bool:
    """Tell a connection to reconnect elsewhere (`frame`: the `region_moved` error, the fence)
    and close it: its page reconnects through the domain, to the active Region. The frame is
    posted first, because a route's answer to a connection closed during the route is dropped.
    True if both were done (a socket gone already counts as closed)."""
    told = broadcast_shard(api=api, connection_ids=[connection_id], payload=frame, forget=False)
    metric_count("ConnectionsMovedAway")
    with contextlib.suppress(ConnectionGone):
        api.delete(connection_id)
    return told.delivered == 1


def connection_ids_of(*, user_id: str) -> list[str]:
    """The user's unexpired connections, from the by-user index.

    The index is eventually consistent, so connections opened in the same instant may be missed:
    the cap is approximate by a connection or two, which is what it is for (runaway clients).
    """
    live = Connection.user_index.query(user_id, filter_condition=Connection.expires_at > utcnow())
    return [connection.connection_id for connection in live]


def connections_reachable(*, api: ManagementApi, ids: list[str]) -> list[str]:
    """The ids API Gateway still knows (GET @connections); the ones gone (410) are forgotten.

    Any other failure counts as reachable: when in doubt the cap holds. A 410 is not counted
    even inside the grace that keeps it stored (it may be a $connect still running): the cap is
    approximate anyway, and a ghost must not hold a place.
    """
    if not ids:
        return []

    def known(connection_id: str) -> bool:
        try:
            api.get(connection_id)
        except ConnectionGone:
            return False
        except Exception:
            logger.warning("could not check a connection", extra={"connection": connection_id})
        return True

    with ThreadPoolExecutor(max_workers=min(len(ids), 16), thread_name_prefix="check") as pool:
        answers = list(pool.map(known, ids))
    connections_forget([c for c, ok in zip(ids, answers, strict=True) if not ok])
    return [c for c, ok in zip(ids, answers, strict=True) if ok]


def connection_get(*, connection_id: str, user: User) -> Connection:
    """The live connection behind a socket in a room, or NotConnected (NotInARoom for a lobby
    connection); in a private room, only while the user may still use it (NotAMember once
    removed, whatever became of the socket)."""
    try:
        connection = Connection.get(connection_id)
    except Connection.DoesNotExist:
        raise NotConnected("this connection is not registered; reconnect") from None
    if not connection.is_live(utcnow()):
        raise NotConnected("this connection has expired; reconnect")
    if connection.room is None:
        raise NotInARoom("this connection is in no room (?lobby=1); connect with ?room= to talk")
    if connection.private:
        member_check(room=connection.room, user=user)
    return connection


def presence_join(*, api: ManagementApi, connection_id: str, user: User) -> Presence:
    """Who is in the caller's room; the others are told, as this is how a newcomer arrives,
    unless an older connection of theirs is in the room (a page's hand-over before API
    Gateway's 2-hour limit, another tab): then nobody's list changes, and each announcement
    would cost an API Gateway message per person in the room. The oldest of tabs opening
    together announces."""
    connection = connection_get(connection_id=connection_id, user=user)
    room = connection.room
    if any(_older(c, connection) for c in _same_user_in_room(connection)):
        return room_presence(room=room)
    gone = presence_announce(api=api, room=room, exclude=connection_id)
    return room_presence(room=room, without=gone)


def _same_user_in_room(connection: Connection) -> list[Connection]:
    """The user's other live connections in the connection's room (by-user: a few items)."""
    live = Connection.user_index.query(
        connection.user_id, filter_condition=Connection.expires_at > utcnow()
    )
    return [
        c for c in live if c.room == connection.room and c.connection_id != connection.connection_id
    ]


def _older(first: Connection, second: Connection) -> bool:
    """Whether `first` connected before `second`: a total order, so exactly one of a user's
    connections is the oldest and one the newest. Expiry follows the connecting time to the
    second (connection_expiry); within one second the connecting time itself decides (by-user
    does not project it: the whole items are read, rarely), then the id. A connection gone
    meanwhile is neither older nor newer."""
    if first.expires_at != second.expires_at:
        return first.expires_at < second.expires_at
    firsts, seconds = _connected_at(first), _connected_at(second)
    if firsts is None or seconds is None:
        return False
    return (firsts, first.connection_id) < (seconds, second.connection_id)


def _connected_at(connection: Connection) -> datetime | None:
    if connection.connected_at is not None:
        return connection.connected_at
    try:
        return Connection.get(connection.connection_id, consistent_read=True).connected_at
    except Connection.DoesNotExist:
        return None


def presence_announce(*, api: ManagementApi, room: str, exclude: str | None = None) -> set[str]:
    """Send the room its list of who is online; return the connections found gone (410).

    Coalesced per room: the first announcement of a burst of arrivals and departures waits
    PRESENCE_COALESCE_MS, then sends the list as it is by then, to everyone if others joined
    it meanwhile (they send nothing): N people arriving at once cost one broadcast, not N.
    Each list sent is also the room's online count on the rooms page (room_online_record). A
    room with more people online than PRESENCE_BROADCAST_MAX is only counted: a list to each of
    them per arrival would cost more than their messages.
    Best effort: a failure here must not refuse a connection or a disconnect. If fan-out found
    ghosts, the list is sent once more without them (a ghost inside the 30 s grace is still
    stored, so it is left out by id rather than by reading again).
    """
    gone: set[str] = set()
    window = get_config().presence_coalesce_ms / 1000
    try:
        if window > 0:
            if not presence_claim(room=room, window=window):
                return gone
            sleep(window)
            if presence_joined(room=room):
                exclude = None  # the excluded newcomer must hear of those who came after it
        for _ in range(2):
            read_at = time.time()
            presence = room_presence(room=room, without=gone)
            # Stored before it is sent: a page that saw this list finds the rooms list agree.
            room_online_record(room=room, presence=presence, read_at=read_at)
            if len(presence.users) > get_config().presence_broadcast_max:
                break  # a large room: its pages ask (lambdas/config.py, presence_broadcast_max)
            payload = presence_frame(room=room, users=presence.users)
            found = set(broadcast(api=api, room=room, payload=payload, exclude=exclude).gone)
            if found <= gone:
                break
            gone |= found
    except Exception:
        logger.exception("presence announcement failed", extra={"room": room})
    return gone
