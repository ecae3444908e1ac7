#!/usr/bin/env node
// Benchmark anchor: the peerlens room protocol in plain Node and `ws`.
//
//   NODE_PATH=~/.cache/peerlens/node/node_modules \
//     node tests/servers/rooms.cjs --port P [--room-cap N]
//
// A straightforward, idiomatic implementation of the same room semantics as
// peerlens-server (server/src/hub.rs and session.rs), so that benchmarks can
// compare the Rust server with what a typical Node signaling server does.
// It has no static files, no origin checks, no rate limit and no idle
// timeout: only rooms. WebSocket on any path of 127.0.0.1:P, JSON text frames.
//
//   client -> server
//     {"type":"join","room":R,"name":N,"peerId":ID?}
//     {"type":"signal","to":ID,"data":ANY}
//     {"type":"leave"}
//     {"type":"ping"}
//   server -> client
//     {"type":"welcome","id":ID,"peers":[{"id","name"}...],"iceServers":[]}
//     {"type":"peer-joined","peer":{"id","name"}}     to the others in the room
//     {"type":"peer-left","id":ID}                    on leave or disconnect
//     {"type":"signal","from":ID,"data":ANY}          only within one room
//     {"type":"pong"}
//     {"type":"error","code":C,"message":M}
//       C: bad-message, room-full, not-joined, already-joined, unknown-peer,
//          too-large
'use strict';

const http = require('http');
const crypto = require('crypto');
const { WebSocketServer, WebSocket } = require('ws');

const MAX_MESSAGE_BYTES = 64 * 1024;
// Frames somewhat over the limit still arrive whole so they can be answered
// with `too-large`; far bigger ones make `ws` close the connection (1009).
const MAX_PAYLOAD = 4 * MAX_MESSAGE_BYTES;
const MAX_LABEL_LEN = 64;
const PEER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
// Unicode category Cc, as Rust's char::is_control.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function usage() {
  process.stderr.write('usage: rooms.cjs --port P [--room-cap N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const out = { port: null, roomCap: 6 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq >= 0 ? a.slice(0, eq) : a;
    const val = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    if (key === '--port') out.port = Number(val());
    else if (key === '--room-cap') out.roomCap = Number(val());
    else {
      process.stderr.write(`rooms: unknown argument ${a}\n`);
      usage();
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) usage();
  if (!Number.isInteger(out.roomCap) || out.roomCap < 1) usage();
  return out;
}

const args = parseArgs(process.argv.slice(2));

// room name -> Map(peer id -> { id, name, ws }), in join order.
const rooms = new Map();
// peer id -> room name, for every joined peer.
const roomOf = new Map();

function randomId() {
  let id;
  do {
    const bytes = crypto.randomBytes(12);
    id = '';
    for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  } while (roomOf.has(id));
  return id;
}

function send(ws, message) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function error(ws, code, message) {
  send(ws, { type: 'error', code, message });
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function validRoom(room) {
  return (
    typeof room === 'string' &&
    room.length > 0 &&
    Buffer.byteLength(room) <= MAX_LABEL_LEN &&
    !CONTROL_RE.test(room)
  );
}

function validName(name) {
  return (
    typeof name === 'string' && Buffer.byteLength(name) <= MAX_LABEL_LEN && !CONTROL_RE.test(name)
  );
}

function validPeerId(id) {
  return typeof id === 'string' && PEER_ID_RE.test(id);
}

// Checks a parsed frame; returns an error text, or null when it is valid.
function invalid(msg) {
  switch (msg.type) {
    case 'join':
      if (!validRoom(msg.room)) return 'invalid room: must be 1 to 64 bytes with no control characters';
      if (msg.name !== undefined && !validName(msg.name)) {
        return 'invalid name: must be at most 64 bytes with no control characters';
      }
      if (msg.peerId !== undefined && msg.peerId !== null && !validPeerId(msg.peerId)) {
        return 'invalid peerId: must be 1 to 64 characters from [A-Za-z0-9_-]';
      }
      return null;
    case 'signal':
      if (!validPeerId(msg.to)) return 'invalid to: must be a peer id';
      if (!('data' in msg)) return 'invalid "signal" message: missing field `data`';
      return null;
    case 'leave':
    case 'ping':
      return null;
    default:
      return `unknown message type ${JSON.stringify(msg.type)}`;
  }
}

function join(ws, room, name, wantedId) {
  let members = rooms.get(room);
  const count = members ? members.size : 0;
  if (count >= args.roomCap) {
    error(ws, 'room-full', `room ${JSON.stringify(room)} already has ${count} peers`);
    return;
  }
  const id = wantedId && !roomOf.has(wantedId) ? wantedId : randomId();
  if (!members) {
    members = new Map();
    rooms.set(room, members);
  }
  const peers = [];
  for (const m of members.values()) peers.push({ id: m.id, name: m.name });
  send(ws, { type: 'welcome', id, peers, iceServers: [] });
  const joined = JSON.stringify({ type: 'peer-joined', peer: { id, name } });
  for (const m of members.values()) {
    if (m.ws.readyState === WebSocket.OPEN) m.ws.send(joined);
  }
  members.set(id, { id, name, ws });
  roomOf.set(id, room);
  ws.peerId = id;
}

function leave(ws) {
  const id = ws.peerId;
  ws.peerId = null;
  if (!id) return;
  const room = roomOf.get(id);
  roomOf.delete(id);
  const members = rooms.get(room);
  if (!members) return;
  members.delete(id);
  if (members.size === 0) {
    rooms.delete(room);
    return;
  }
  const left = JSON.stringify({ type: 'peer-left', id });
  for (const m of members.values()) {
    if (m.ws.readyState === WebSocket.OPEN) m.ws.send(left);
  }
}

function signal(ws, to, data) {
  const from = ws.peerId;
  const room = roomOf.get(from);
  const target = roomOf.get(to) === room ? rooms.get(room).get(to) : undefined;
  if (!target) {
    error(ws, 'unknown-peer', `no peer ${JSON.stringify(to)} in your room`);
    return;
  }
  send(target.ws, { type: 'signal', from, data });
}

function onMessage(ws, data, isBinary) {
  if (isBinary) {
    error(ws, 'bad-message', 'binary frames are not part of the protocol; send JSON text');
    return;
  }
  if (data.length > MAX_MESSAGE_BYTES) {
    error(
      ws,
      'too-large',
      `a frame of ${data.length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`,
    );
    return;
  }
  let msg;
  try {
    msg = JSON.parse(data.toString('utf8'));
  } catch (e) {
    error(ws, 'bad-message', `not valid JSON: ${e.message}`);
    return;
  }
  if (!isObject(msg) || typeof msg.type !== 'string') {
    error(ws, 'bad-message', 'a message must be a JSON object with a string "type"');
    return;
  }
  const problem = invalid(msg);
  if (problem) {
    error(ws, 'bad-message', problem);
    return;
  }
  switch (msg.type) {
    case 'ping':
      send(ws, { type: 'pong' });
      break;
    case 'join':
      if (ws.peerId) {
        error(ws, 'already-joined', `already in a room as ${JSON.stringify(ws.peerId)}; send leave first`);
      } else {
        join(ws, msg.room, msg.name === undefined ? '' : msg.name, msg.peerId);
      }
      break;
    case 'signal':
      if (!ws.peerId) error(ws, 'not-joined', 'join a room first');
      else signal(ws, msg.to, msg.data);
      break;
    case 'leave':
      if (!ws.peerId) error(ws, 'not-joined', 'join a room first');
      else leave(ws);
      break;
  }
}

const server = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('WebSocket only\n');
});
const wss = new WebSocketServer({ server, maxPayload: MAX_PAYLOAD });

wss.on('connection', (ws) => {
  ws.peerId = null;
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
  ws.on('close', () => leave(ws));
});

wss.on('error', () => {});

server.on('error', (err) => {
  process.stderr.write(`rooms: ${err.message}\n`);
  process.exit(1);
});

server.listen(args.port, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`rooms listening on 127.0.0.1:${port}\n`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const c of wss.clients) c.terminate();
  wss.close();
  server.close(() => process.exit(0));
  if (server.closeAllConnections) server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
