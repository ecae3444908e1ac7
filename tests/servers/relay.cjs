#!/usr/bin/env node
// Test fixture: a minimal two-role WebRTC signaling relay.
//
//   NODE_PATH=~/.cache/peerlens/node/node_modules \
//     node tests/servers/relay.cjs --port P [--static DIR]
//
// HTTP on 127.0.0.1:P. GET serves files from DIR (when given). Any WebSocket
// upgrade speaks the relay protocol:
//   {"type":"sender"} / {"type":"receiver"}      register (latest wins)
//   {"type":"createOffer","sdp":{...}}           sender   -> receiver
//   {"type":"createAnswer","sdp":{...}}          receiver -> sender
//   {"type":"iceCandidate","candidate":{...}}    either   -> the other role
// The server never sends anything of its own; anything else is dropped.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const { WebSocketServer, WebSocket } = require('ws');

function parseArgs(argv) {
  const out = { port: null, staticDir: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq >= 0 ? a.slice(0, eq) : a;
    const val = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    if (key === '--port') out.port = Number(val());
    else if (key === '--static') out.staticDir = val();
    else {
      process.stderr.write(`relay: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    process.stderr.write('usage: relay.cjs --port P [--static DIR]\n');
    process.exit(2);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const staticRoot = args.staticDir ? path.resolve(args.staticDir) : null;

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

function notFound(res) {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('not found\n');
}

function serveStatic(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' });
    res.end('method not allowed\n');
    return;
  }
  if (!staticRoot) return notFound(res);
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
  } catch (_) {
    return notFound(res);
  }
  if (pathname.includes('\0')) return notFound(res);
  if (pathname.endsWith('/')) pathname += 'index.html';
  const full = path.resolve(staticRoot, '.' + path.posix.normalize('/' + pathname));
  const rel = path.relative(staticRoot, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return notFound(res);
  fs.realpath(full, (err, real) => {
    if (err) return notFound(res);
    // Refuse symlinks that lead outside the root.
    fs.realpath(staticRoot, (err2, realRoot) => {
      if (err2) return notFound(res);
      const r = path.relative(realRoot, real);
      if (r === '' || r.startsWith('..') || path.isAbsolute(r)) return notFound(res);
      fs.stat(real, (err3, st) => {
        if (err3 || !st.isFile()) return notFound(res);
        const type = TYPES[path.extname(real).toLowerCase()] || 'application/octet-stream';
        res.writeHead(200, {
          'Content-Type': type,
          'Content-Length': st.size,
          'Cache-Control': 'no-store',
        });
        if (req.method === 'HEAD') return res.end();
        const stream = fs.createReadStream(real);
        stream.on('error', () => res.destroy());
        stream.pipe(res);
      });
    });
  });
}

const server = http.createServer(serveStatic);
const wss = new WebSocketServer({ server });

const slots = { sender: null, receiver: null };

function roleOf(ws) {
  if (slots.sender === ws) return 'sender';
  if (slots.receiver === ws) return 'receiver';
  return null;
}

function sendTo(role, text) {
  const ws = slots[role];
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString('utf8');
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (_) {
      return;
    }
    if (!isObject(msg) || typeof msg.type !== 'string') return;
    const role = roleOf(ws);
    switch (msg.type) {
      case 'sender':
      case 'receiver': {
        // A socket holds at most one role: re-registering moves it.
        if (role && role !== msg.type) slots[role] = null;
        slots[msg.type] = ws;
        break;
      }
      // Forwarded verbatim: the original text frame, untouched.
      case 'createOffer':
        if (role === 'sender') sendTo('receiver', text);
        break;
      case 'createAnswer':
        if (role === 'receiver') sendTo('sender', text);
        break;
      case 'iceCandidate':
        if (role === 'sender') sendTo('receiver', text);
        else if (role === 'receiver') sendTo('sender', text);
        break;
      default:
        break;
    }
  });
  ws.on('close', () => {
    if (slots.sender === ws) slots.sender = null;
    if (slots.receiver === ws) slots.receiver = null;
  });
});

wss.on('error', () => {});

server.on('error', (err) => {
  process.stderr.write(`relay: ${err.message}\n`);
  process.exit(1);
});

server.listen(args.port, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`relay listening on 127.0.0.1:${port}\n`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const c of wss.clients) c.terminate();
  wss.close();
  server.close(() => process.exit(0));
  server.closeAllConnections && server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
