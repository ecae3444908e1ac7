#!/usr/bin/env python3
"""Test fixture: a WHIP (RFC 9725) and WHEP endpoint built on aiortc.

The end-to-end tests drive a browser WHIP/WHEP client against it and then
read GET /stats to check what the server saw.

  OPTIONS *                   204, CORS preflight answer
  POST /whip/{name}           publish: SDP offer in, 201 + SDP answer out
  POST /whep/{name}           play: same, the server sends a synthetic video
  PATCH /resource/{id}        trickle ICE (If-Match: ETag) or ICE restart
                              (If-Match: *), application/trickle-ice-sdpfrag
  DELETE /resource/{id}       200, closes the session
  POST /fail/{status}         answers {status} with "refused for the test"
  GET /stats                  JSON record of every session, in creation order

Every response carries CORS headers, as the test page is served from
another origin.

Run:  python tests/servers/whip_endpoint.py --port P [--token T]
Binds 127.0.0.1 only: HTTP, and ICE too (the only local candidate is
127.0.0.1, no STUN server is used, and remote mDNS candidates are ignored
rather than resolved by multicast). Needs aiohttp and aiortc (with PyAV).
"""

import argparse
import asyncio
import fractions
import json
import logging
import os
import secrets
import signal
import sys

import aioice.ice
import av
from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from multidict import CIMultiDict

log = logging.getLogger("whip_endpoint")

SDP_TYPE = "application/sdp"
SDPFRAG_TYPE = "application/trickle-ice-sdpfrag"

# ICE servers advertised in Link headers (RFC 9725 section 4.6). Nothing
# needs to listen there unless a test starts its own STUN/TURN server.
LINK_ICE_SERVERS = (
    '<stun:127.0.0.1:3478>; rel="ice-server"',
    '<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; '
    'username="peerlens"; credential="secret"; credential-type="password"',
)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Location, ETag, Link",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, If-Match",
}

# Upper bound for building one answer (aiortc gathers candidates first).
NEGOTIATION_TIMEOUT = 15.0


# --------------------------------------------------------------------------
# Keeping ICE on loopback
# --------------------------------------------------------------------------

def loopback_only_host_addresses(use_ipv4, use_ipv6):
    """Stands in for aioice's interface enumeration.

    aioice normally offers a host candidate on every non-loopback interface
    address; this fixture must bind 127.0.0.1 only, so that is the only
    address it gets. A browser on the same machine reaches it fine: its
    checks from its own host addresses to 127.0.0.1 stay inside the kernel,
    and aioice learns the browser's address as a peer-reflexive candidate.
    """
    return ["127.0.0.1"] if use_ipv4 else []


aioice.ice.get_host_addresses = loopback_only_host_addresses


def is_mdns_candidate(candidate_value):
    """True for a candidate whose address is an mDNS name (`xxxx.local`).

    aioice would resolve such a name with a multicast query on the real
    network, so the fixture drops these candidates instead. The browser's
    checks still arrive, and give the same address as peer-reflexive.
    """
    parts = candidate_value.split()
    return len(parts) >= 5 and parts[4].lower().endswith(".local")


def new_peer_connection():
    # An empty list, not None: with None aiortc falls back to a public STUN
    # server, which would reach the network.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


# --------------------------------------------------------------------------
# SDP helpers (plain text; aiortc does the real parsing)
# --------------------------------------------------------------------------

def sdp_lines(text):
    """The non-empty lines of an SDP or fragment, CRLF or LF separated."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def first_attribute(text, name):
    """The value of the first `a={name}:` line, wherever it is, or None."""
    prefix = f"a={name}:"
    for line in sdp_lines(text):
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def media_sections(text):
    """Splits an SDP or fragment into media sections.

    Returns (session_lines, sections) where each section is a dict with
    "m" (the m= line), "mid" (or None) and "lines" (all lines after m=).
    """
    session_lines, sections = [], []
    for line in sdp_lines(text):
        if line.startswith("m="):
            sections.append({"m": line, "mid": None, "lines": []})
        elif sections:
            sections[-1]["lines"].append(line)
            if line.startswith("a=mid:") and sections[-1]["mid"] is None:
                sections[-1]["mid"] = line[len("a=mid:"):].strip()
        else:
            session_lines.append(line)
    return session_lines, sections


def strip_mdns_candidates(sdp):
    """The SDP without `a=candidate:` lines that name an mDNS host."""
    kept = []
    for line in sdp.splitlines():
        stripped = line.strip()
        if stripped.startswith("a=candidate:") and is_mdns_candidate(
            stripped[len("a=candidate:"):]
        ):
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def check_offer_text(sdp):
    """A reason why `sdp` is not a usable offer, or None if it looks fine."""
    lines = sdp_lines(sdp)
    if not lines or lines[0] != "v=0":
        return "the offer is not an SDP (it must start with v=0)"
    if not any(line.startswith("m=") for line in lines):
        return "the offer has no m= section"
    if first_attribute(sdp, "ice-ufrag") is None:
        return "the offer has no a=ice-ufrag"
    return None


# --------------------------------------------------------------------------
# The synthetic video sent to WHEP players
# --------------------------------------------------------------------------

class MovingBarTrack(VideoStreamTrack):
    """320x240 frames at 15 fps: a bright vertical bar sliding across a dark
    background, so every frame differs from the one before.

    Frames are built straight into PyAV's planes (yuv420p), as numpy is not
    a dependency here.
    """

    WIDTH, HEIGHT, FPS = 320, 240, 15
    CLOCK_RATE = 90000  # the RTP video clock
    BAR_WIDTH, BAR_STEP = 40, 8
    DARK_Y, BRIGHT_Y, NEUTRAL_UV = 16, 235, 128

    def __init__(self, on_frame):
        super().__init__()
        self._on_frame = on_frame  # called once per frame handed to aiortc
        self._index = 0
        self._started = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
        # Pace against the start time so the rate does not drift.
        due = self._started + self._index / self.FPS
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

        frame = self._draw(self._index)
        frame.pts = self._index * (self.CLOCK_RATE // self.FPS)
        frame.time_base = fractions.Fraction(1, self.CLOCK_RATE)
        self._index += 1
        self._on_frame()
        return frame

    def _draw(self, index):
        frame = av.VideoFrame(self.WIDTH, self.HEIGHT, "yuv420p")
        luma, chroma_u, chroma_v = frame.planes
        # One luma row, padded to the plane's stride, repeated for every row.
        row = bytearray([self.DARK_Y]) * luma.line_size
        left = (index * self.BAR_STEP) % self.WIDTH
        for x in range(left, min(left + self.BAR_WIDTH, self.WIDTH)):
            row[x] = self.BRIGHT_Y
        luma.update(bytes(row) * luma.height)
        # Grey chroma: the picture is black and white.
        for plane in (chroma_u, chroma_v):
            plane.update(bytes([self.NEUTRAL_UV]) * plane.buffer_size)
        return frame


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------

def random_etag():
    return f'"{secrets.token_hex(8)}"'


class Session:
    """One WHIP or WHEP resource and what the tests may ask about it."""

    def __init__(self, kind, name, pc, offer_ufrag, authorization):
        self.id = secrets.token_hex(8)
        self.kind = kind  # "whip" or "whep"
        self.name = name
        self.pc = pc
        self.etag = random_etag()
        self.authorization = authorization
        self.offer_ufrag = offer_ufrag
        # The client's ufrag now in force: the offer's, then a restart's.
        self.client_ufrag = offer_ufrag
        self.offer_mids = []  # mids of the offer, in m-line order
        self.frames = {"video": 0, "audio": 0}
        self.frames_sent = 0
        self.width = None
        self.height = None
        self.deleted = False
        self.patches = []
        self.restart = None
        self.tasks = set()
        self.lock = asyncio.Lock()  # one PATCH or DELETE at a time

    def count_sent_frame(self):
        self.frames_sent += 1

    def consume(self, track):
        """Reads `track` to its end in a task, counting its frames."""
        task = asyncio.create_task(self._consume(track))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _consume(self, track):
        log.info("session %s: receiving %s track", self.id, track.kind)
        try:
            while True:
                frame = await track.recv()
                self.frames[track.kind] = self.frames.get(track.kind, 0) + 1
                if track.kind == "video":
                    self.width, self.height = frame.width, frame.height
        except MediaStreamError:
            pass  # the track ended
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session %s: reading a %s track failed", self.id, track.kind)
        log.info("session %s: %s track ended", self.id, track.kind)

    async def close(self):
        try:
            await asyncio.wait_for(self.pc.close(), timeout=5)
        except Exception:
            log.exception("session %s: closing the peer connection failed", self.id)
        for task in list(self.tasks):
            task.cancel()

    def to_json(self):
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "connection_state": self.pc.connectionState,
            "ice_state": self.pc.iceConnectionState,
            "frames": dict(self.frames),
            "frames_sent": self.frames_sent,
            "width": self.width,
            "height": self.height,
            "deleted": self.deleted,
            "authorization": self.authorization,
            "offer_ufrag": self.offer_ufrag,
            "etag": self.etag,
            "patches": list(self.patches),
            "restart": self.restart,
        }


class Endpoint:
    """The HTTP handlers and the sessions they share."""

    def __init__(self, token):
        self.token = token
        self.sessions = {}  # id -> Session; dicts keep creation order

    # ---- publish and play ------------------------------------------------

    async def post_whip(self, request):
        return await self._create(request, "whip")

    async def post_whep(self, request):
        return await self._create(request, "whep")

    def _authorized(self, request):
        if self.token is None:
            return True
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            credentials.strip().encode(), self.token.encode()
        )

    async def _create(self, request, kind):
        name = request.match_info["name"]
        if request.content_type != SDP_TYPE:
            return text_response(415, f"the offer must be sent as {SDP_TYPE}")
        if not self._authorized(request):
            return web.Response(
                status=401,
                text="a valid bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="whip-test"'},
            )
        offer = (await request.read()).decode("utf-8", errors="replace")
        problem = check_offer_text(offer)
        if problem is not None:
            return text_response(400, problem)

        pc = new_peer_connection()
        session = Session(
            kind,
            name,
            pc,
            offer_ufrag=first_attribute(offer, "ice-ufrag"),
            authorization=request.headers.get("Authorization"),
        )
        session.offer_mids = [s["mid"] for s in media_sections(offer)[1]]

        @pc.on("track")
        def on_track(track):
            session.consume(track)

        @pc.on("connectionstatechange")
        async def on_state():
            log.info("session %s: connection %s", session.id, pc.connectionState)

        try:
            answer = await asyncio.wait_for(
                self._negotiate(pc, session, offer), NEGOTIATION_TIMEOUT
            )
        except Exception as error:  # malformed SDP, unsupported media, timeout
            await session.close()
            reason = str(error) or type(error).__name__
            log.warning("%s offer for %r refused: %s", kind, name, reason)
            return text_response(400, f"cannot answer this offer: {reason}")

        self.sessions[session.id] = session
        log.info("session %s: %s %r created", session.id, kind, name)
        headers = CIMultiDict()
        headers["Content-Type"] = SDP_TYPE
        headers["Location"] = f"/resource/{session.id}"
        headers["ETag"] = session.etag
        for link in LINK_ICE_SERVERS:
            headers.add("Link", link)  # one header line per ICE server
        return web.Response(status=201, body=answer.encode(), headers=headers)

    async def _negotiate(self, pc, session, offer):
        await pc.setRemoteDescription(
            RTCSessionDescription(sdp=strip_mdns_candidates(offer), type="offer")
        )
        if session.kind == "whep":
            # Attached to the offer's video transceiver; audio stays
            # unanswered and so becomes inactive.
            pc.addTrack(MovingBarTrack(session.count_sent_frame))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    # ---- trickle and restart ---------------------------------------------

    async def patch_resource(self, request):
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return text_response(404, "no such resource")
        body = (await request.read()).decode("utf-8", errors="replace")
        if_match = request.headers.get("If-Match")
        record = {
            "kind": "restart" if (if_match or "").strip() == "*" else "trickle",
            "if_match": if_match,
            "content_type": request.headers.get("Content-Type"),
            "status": None,
            "candidates": 0,
            "added": 0,
            "skipped_mdns": 0,
            "errors": [],
            "end_of_candidates": False,
            "body": body,
        }
        session.patches.append(record)

        async with session.lock:
            if session.deleted:
                response = text_response(404, "this resource was deleted")
            elif request.content_type != SDPFRAG_TYPE:
                response = text_response(415, f"PATCH bodies must be {SDPFRAG_TYPE}")
            elif record["kind"] == "restart":
                response = self._restart(session, body, record)
            else:
                response = await self._trickle(session, body, if_match, record)
        record["status"] = response.status
        return response

    def _restart(self, session, body, record):
        """An ICE restart (RFC 9725 section 4.3.2).

        aiortc cannot restart ICE, so this only checks the request and
        answers with fresh credentials; the tests check that the client
        sends it and applies the answer.
        """
        record["candidates"] = sum(
            1 for line in sdp_lines(body) if line.startswith("a=candidate:")
        )
        ufrag = first_attribute(body, "ice-ufrag")
        pwd = first_attribute(body, "ice-pwd")
        if not ufrag or not pwd:
            return text_response(400, "an ICE restart needs a=ice-ufrag and a=ice-pwd")
        if ufrag == session.client_ufrag:
            return text_response(400, "an ICE restart needs a new a=ice-ufrag")

        server_ufrag = secrets.token_hex(4)  # 8 characters
        server_pwd = secrets.token_hex(12)  # 24 characters
        session.restart = {
            "old_ufrag": session.client_ufrag,
            "new_ufrag": ufrag,
            "server_ufrag": server_ufrag,
        }
        session.client_ufrag = ufrag
        session.etag = random_etag()
        log.info("session %s: ICE restart, client ufrag %s", session.id, ufrag)

        # The answer fragment: new credentials, then the first media section
        # of the current answer with its mid and candidates.
        lines = [f"a=ice-ufrag:{server_ufrag}", f"a=ice-pwd:{server_pwd}"]
        answer = session.pc.localDescription
        sections = media_sections(answer.sdp)[1] if answer is not None else []
        if sections:
            first = sections[0]
            lines.append(first["m"])
            if first["mid"] is not None:
                lines.append(f"a=mid:{first['mid']}")
            lines.extend(
                line for line in first["lines"] if line.startswith("a=candidate:")
            )
        lines.append("a=end-of-candidates")
        return web.Response(
            status=200,
            body=("\r\n".join(lines) + "\r\n").encode(),
            headers={"Content-Type": SDPFRAG_TYPE, "ETag": session.etag},
        )

    async def _trickle(self, session, body, if_match, record):
        """Trickled candidates (RFC 9725 section 4.3.1, RFC 8840 fragment)."""
        if if_match is None or if_match.strip() != session.etag:
            return text_response(412, "If-Match does not match the current ETag")

        # Collect (mid, m-line index in the fragment, candidate value).
        # Candidates before any m= line belong to the first mid.
        _, sections = media_sections(body)
        default_mid = next((s["mid"] for s in sections if s["mid"] is not None), None)
        if default_mid is None and session.offer_mids:
            default_mid = session.offer_mids[0]
        found = []
        section_index = -1
        for line in sdp_lines(body):
            if line.startswith("m="):
                section_index += 1
            elif line == "a=end-of-candidates":
                record["end_of_candidates"] = True
            elif line.startswith("a=candidate:"):
                if section_index < 0:
                    mid = default_mid
                else:
                    mid = sections[section_index]["mid"] or default_mid
                found.append((mid, max(section_index, 0), line[len("a=candidate:"):]))
        record["candidates"] = len(found)

        for mid, fragment_index, value in found:
            if is_mdns_candidate(value):
                record["skipped_mdns"] += 1
                continue
            try:
                candidate = candidate_from_sdp(value)
                candidate.sdpMid = mid
                # Prefer the mid's position in the offer; fall back to the
                # fragment's own section order.
                if mid in session.offer_mids:
                    candidate.sdpMLineIndex = session.offer_mids.index(mid)
                else:
                    candidate.sdpMLineIndex = fragment_index
                await session.pc.addIceCandidate(candidate)
                record["added"] += 1
            except Exception as error:
                message = f"{value}: {str(error) or type(error).__name__}"
                record["errors"].append(message)
                log.warning("session %s: candidate refused: %s", session.id, message)
        return web.Response(status=204)

    # ---- the rest ----------------------------------------------------------

    async def delete_resource(self, request):
        session = self.sessions.get(request.match_info["id"])
        if session is None or session.deleted:
            return text_response(404, "no such resource")
        async with session.lock:
            session.deleted = True
            await session.close()
        log.info("session %s: deleted", session.id)
        return text_response(200, "deleted")

    async def fail(self, request):
        try:
            status = int(request.match_info["status"])
        except ValueError:
            status = 0
        if not 200 <= status <= 599:
            return text_response(400, "the status must be a number from 200 to 599")
        return text_response(status, "refused for the test")

    async def stats(self, request):
        sessions = [session.to_json() for session in self.sessions.values()]
        return web.json_response({"sessions": sessions})

    async def close_all(self):
        await asyncio.gather(
            *(session.close() for session in self.sessions.values()),
            return_exceptions=True,
        )


def text_response(status, text):
    return web.Response(status=status, text=text)


@web.middleware
async def cors_and_errors(request, handler):
    """Answers CORS preflights, adds the CORS headers to every response,
    errors included, and turns unexpected exceptions into 500s instead of
    dropped connections."""
    try:
        if request.method == "OPTIONS":
            # Any path: handled here, before the router's 404 or 405.
            response = web.Response(status=204, headers=PREFLIGHT_HEADERS)
        else:
            response = await handler(request)
    except web.HTTPException as error:
        # aiohttp's own 404/405/413...: rebuild it as a plain response.
        response = web.Response(
            status=error.status, text=error.text or error.reason, headers=error.headers
        )
    except asyncio.CancelledError:
        raise
    except Exception as error:
        log.exception("%s %s failed", request.method, request.path)
        response = text_response(500, f"internal error: {error}")
    response.headers.update(CORS_HEADERS)
    return response


def make_app(endpoint):
    app = web.Application(middlewares=[cors_and_errors])
    app.router.add_post("/whip/{name}", endpoint.post_whip)
    app.router.add_post("/whep/{name}", endpoint.post_whep)
    app.router.add_patch("/resource/{id}", endpoint.patch_resource)
    app.router.add_delete("/resource/{id}", endpoint.delete_resource)
    app.router.add_post("/fail/{status}", endpoint.fail)
    app.router.add_get("/stats", endpoint.stats)
    return app


async def serve(port, token):
    endpoint = Endpoint(token)
    runner = web.AppRunner(make_app(endpoint), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    print(f"whip endpoint listening on 127.0.0.1:{bound}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: closing %d peer connections", len(endpoint.sessions))
    try:
        await asyncio.wait_for(endpoint.close_all(), timeout=5)
    except Exception:
        pass
    try:
        await asyncio.wait_for(runner.cleanup(), timeout=2)
    except Exception:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN on POST")
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        # INFO (each session's steps) when PEERLENS_WHIP_LOG is set.
        level=logging.INFO if os.environ.get("PEERLENS_WHIP_LOG") else logging.WARNING,
        format="whip_endpoint %(levelname)s %(name)s: %(message)s",
    )
    # aiortc and aioice are chatty at INFO.
    for noisy in ("aiortc", "aioice"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        asyncio.run(serve(args.port, args.token))
    except OSError as error:
        print(f"whip_endpoint: {error}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
