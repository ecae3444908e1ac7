#!/usr/bin/env python3
"""Test fixture: a Flask-SocketIO-style mesh signaling server.

It deliberately uses its own event names so the peerlens socket.io codec
has to be configured to match:

  client -> server
    join_room      {"room": R, "username": N, "client_id": ID?}
    leave_room     (no payload)
    offer          {"target": ID, "description": {"type", "sdp"}, ...}
    answer         {"target": ID, "description": {"type", "sdp"}, ...}
    ice_candidate  {"target": ID, "candidate": {...}, ...}

  server -> client
    room_users     {"you": ID, "users": [{"uid": ID, "username": N}, ...]}
    user_joined    {"uid": ID, "username": N}
    user_left      {"uid": ID}
    room_full      {"room": R}
    offer / answer / ice_candidate, as sent but with "sender": ID instead
    of "target".

Run:  ~/.cache/peerlens/signal-venv/bin/python tests/servers/socketio_rooms.py --port P
Binds 127.0.0.1 only. Pins are in tests/servers/requirements.txt.
"""

import argparse
import asyncio
import re
import signal
import sys

import socketio
from aiohttp import web

ROOM_LIMIT = 6
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FORWARDED_EVENTS = ("offer", "answer", "ice_candidate")

sio = socketio.AsyncServer(
    async_mode="aiohttp",
    cors_allowed_origins="*",
    ping_interval=5,
    ping_timeout=5,
    # Handle one client's events in arrival order (an offer must not be
    # overtaken by the candidates that follow it).
    async_handlers=False,
)

# sid -> {"uid": str, "room": str, "username": str}, only while in a room.
members = {}
# uid -> sid, for every connection that is in a room.
uid_to_sid = {}
# room -> {uid: username}, insertion-ordered.
rooms = {}


def choose_uid(sid, requested):
    if isinstance(requested, str) and CLIENT_ID_RE.match(requested):
        holder = uid_to_sid.get(requested)
        if holder is None or holder == sid:
            return requested
    if uid_to_sid.get(sid) in (None, sid):
        return sid
    n = 1
    while f"{sid}-{n}" in uid_to_sid:
        n += 1
    return f"{sid}-{n}"


async def remove_member(sid):
    info = members.pop(sid, None)
    if info is None:
        return
    uid, room = info["uid"], info["room"]
    if uid_to_sid.get(uid) == sid:
        del uid_to_sid[uid]
    users = rooms.get(room)
    if users is None:
        return
    users.pop(uid, None)
    if not users:
        del rooms[room]
        return
    for other_uid in list(users):
        other_sid = uid_to_sid.get(other_uid)
        if other_sid is not None:
            await sio.emit("user_left", {"uid": uid}, to=other_sid)


@sio.event
async def connect(sid, environ, auth=None):
    return True


@sio.event
async def disconnect(sid, *args):
    await remove_member(sid)


@sio.on("join_room")
async def on_join_room(sid, data=None):
    if not isinstance(data, dict):
        return
    room = data.get("room")
    if isinstance(room, (int, float)) and not isinstance(room, bool):
        room = str(room)
    if not isinstance(room, str) or not room:
        return
    username = data.get("username")
    if not isinstance(username, str):
        username = "" if username is None else str(username)

    # Joining again (same room or another) first leaves the current room.
    await remove_member(sid)

    users = rooms.get(room, {})
    if len(users) >= ROOM_LIMIT:
        await sio.emit("room_full", {"room": room}, to=sid)
        return

    uid = choose_uid(sid, data.get("client_id"))
    others = [{"uid": u, "username": n} for u, n in users.items()]
    users[uid] = username
    rooms[room] = users
    uid_to_sid[uid] = sid
    members[sid] = {"uid": uid, "room": room, "username": username}

    await sio.emit("room_users", {"you": uid, "users": others}, to=sid)
    for other in others:
        other_sid = uid_to_sid.get(other["uid"])
        if other_sid is not None:
            await sio.emit("user_joined", {"uid": uid, "username": username}, to=other_sid)


@sio.on("leave_room")
async def on_leave_room(sid, *args):
    await remove_member(sid)


def make_forwarder(event):
    async def forward(sid, data=None):
        info = members.get(sid)
        if info is None or not isinstance(data, dict):
            return
        target = data.get("target")
        if not isinstance(target, str):
            return
        target_sid = uid_to_sid.get(target)
        if target_sid is None or target_sid == sid:
            return
        target_info = members.get(target_sid)
        if target_info is None or target_info["room"] != info["room"]:
            return
        payload = {k: v for k, v in data.items() if k != "target"}
        payload["sender"] = info["uid"]
        await sio.emit(event, payload, to=target_sid)

    forward.__name__ = f"on_{event}"
    return forward


for _event in FORWARDED_EVENTS:
    sio.on(_event, make_forwarder(_event))


async def serve(port):
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    print(f"socketio listening on 127.0.0.1:{bound}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    try:
        await asyncio.wait_for(sio.shutdown(), timeout=2)
    except Exception:
        pass
    try:
        await asyncio.wait_for(runner.cleanup(), timeout=2)
    except Exception:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port))
    except OSError as e:
        print(f"socketio_rooms: {e}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
