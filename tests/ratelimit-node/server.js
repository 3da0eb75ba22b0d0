// Real express-rate-limit limiters on loopback, for tests/rate_limit_real.rs.
//
//   node server.js VARIANT...
//
// Starts one express app per VARIANT (names below), each on its own free port of 127.0.0.1
// (port 0: the kernel picks), and prints one line of JSON to stdout once all of them listen:
//
//   {"ports":{"draft-7":40123,"legacy":40125}}
//
// Every app answers GET /api/lp/health with 200 and `{"ok":true}` until its limiter says 429.
// Each test starts its own process, so every test gets fresh limiter state (MemoryStore).
//
// The process ends on SIGTERM/SIGINT, and also when its stdin closes: a test that dies
// without running its Drop guard still takes this server down with it.

'use strict';

const express = require('express');
const { rateLimit } = require('express-rate-limit');

// As in the runbook: 100 requests per 60 s per client.
const RUNBOOK = { windowMs: 60_000, limit: 100 };

const VARIANTS = {
  // One header syntax each.
  'draft-6': { ...RUNBOOK, standardHeaders: 'draft-6', legacyHeaders: false },
  'draft-7': { ...RUNBOOK, standardHeaders: 'draft-7', legacyHeaders: false },
  'draft-8': { ...RUNBOOK, standardHeaders: 'draft-8', legacyHeaders: false },
  legacy: { ...RUNBOOK, standardHeaders: false, legacyHeaders: true },
  // Both the old and a new syntax on every response.
  'draft-7+legacy': { ...RUNBOOK, standardHeaders: 'draft-7', legacyHeaders: true },
  // No rate-limit headers at all (and so no Retry-After on 429s either).
  none: { ...RUNBOOK, standardHeaders: false, legacyHeaders: false },
  // `app.set('trust proxy', true)` with no proxy in front: req.ip, the limiter's key, is the
  // left-most X-Forwarded-For address, which any client chooses.
  'trust-proxy': { ...RUNBOOK, standardHeaders: 'draft-7', legacyHeaders: false, trustProxy: true },
  // The same limiter without trust proxy: keyed on the connection's address.
  'no-trust-proxy': { ...RUNBOOK, standardHeaders: 'draft-7', legacyHeaders: false },
  // A short window, for --verify-recovery: 5 per 2 s.
  'short-window': { windowMs: 2_000, limit: 5, standardHeaders: 'draft-7', legacyHeaders: false },
};

function app(name) {
  const { trustProxy, ...options } = VARIANTS[name];
  const app = express();
  if (trustProxy) {
    app.set('trust proxy', true);
  }
  app.use(rateLimit(options));
  app.get('/api/lp/health', (req, res) => {
    res.json({ ok: true });
  });
  return app;
}

function listen(name) {
  return new Promise((resolve, reject) => {
    const server = app(name).listen(0, '127.0.0.1');
    server.once('listening', () => resolve([name, server]));
    server.once('error', reject);
  });
}

async function main() {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !Object.hasOwn(VARIANTS, n));
  if (names.length === 0 || unknown.length > 0) {
    console.error(
      `usage: node server.js VARIANT...\n` +
        (unknown.length ? `unknown: ${unknown.join(', ')}\n` : '') +
        `variants: ${Object.keys(VARIANTS).join(', ')}`,
    );
    process.exit(2);
  }
  const servers = await Promise.all([...new Set(names)].map(listen));
  const ports = Object.fromEntries(servers.map(([name, s]) => [name, s.address().port]));
  process.stdout.write(`${JSON.stringify({ ports })}\n`);

  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
