'use strict';
// What only the inside of the Node.js function shows: the order of close and open, clocks, retries.
// Run from the staged package by tests/test_access_nodejs_units.py (node --test).
const test = require('node:test');
const assert = require('node:assert/strict');
const { TenantData } = require('../tenant_data');
const { Tenant } = require('../contract');

/** A connection that answers queries as `answer` says and records its logout. */
function fakeConnection(answer = async () => [[{ ID: 1 }]]) {
  const connection = {
    ended: false,
    query: (...args) => answer(...args),
    end: async () => {
      connection.ended = true;
    },
    destroy: () => {
      connection.ended = true;
    },
    on: () => {},
  };
  return connection;
}

function tenantData({ mode = 'kept', maxKept = 4, maxAgeSeconds = 900, clock = Date.now, connect } = {}) {
  const opened = [];
  const data = new TenantData({
    route: () => ({ endpoint: 'db.example', port: 3306 }),
    passwords: { password: async () => 'secret' },
    connect: connect ?? (async () => opened[opened.push(fakeConnection()) - 1]),
    caFile: 'unused.pem',
    policy: { mode, maxKept, maxAgeSeconds, perRequest: mode === 'per_request' },
    clock,
  });
  return { data, opened };
}

test('a full instance closes its oldest connection before opening another', async () => {
  const heldAtLogin = [];
  const opened = [];
  const { data } = tenantData({
    connect: async () => {
      heldAtLogin.push(data.openConnections);
      return opened[opened.push(fakeConnection()) - 1];
    },
  });
  for (let id = 0; id < 20; id += 1) await data.randomRows(new Tenant(id));
  assert.equal(heldAtLogin.length, 20);
  assert.equal(Math.max(...heldAtLogin), 3); // never 4 held while the 5th logs in
  assert.deepEqual(opened.map((c) => c.ended), [...Array(16).fill(true), ...Array(4).fill(false)]);
});

test('the least recently used connection is the one closed', async () => {
  const { data, opened } = tenantData({ maxKept: 2 });
  await data.randomRows(new Tenant(1));
  await data.randomRows(new Tenant(2));
  await data.randomRows(new Tenant(1)); // 2 is now the oldest in use
  await data.randomRows(new Tenant(3));
  assert.deepEqual(opened.map((c) => c.ended), [false, true, false]);
});

test('a kept connection is used until the maximum age, then closed and replaced', async () => {
  let now = 1_000_000;
  const { data, opened } = tenantData({ maxAgeSeconds: 60, clock: () => now });
  await data.randomRows(new Tenant(8));
  now += 59_000;
  await data.randomRows(new Tenant(8));
  assert.equal(opened.length, 1);
  now += 1_000;
  await data.randomRows(new Tenant(8));
  assert.equal(opened.length, 2);
  assert.equal(opened[0].ended, true);
  assert.deepEqual(data.stats, { requests: 3, opened: 2, reused: 1 });
});

test('a kept connection that died under the query is replaced once', async () => {
  let failures = 0;
  const lost = Object.assign(new Error('Connection lost: The server closed the connection.'), { fatal: true });
  const connections = [
    fakeConnection(),
    fakeConnection(async () => [[{ ID: 2 }]]),
  ];
  const { data } = tenantData({ connect: async () => connections.shift() });
  const first = data.connections.entries;
  await data.randomRows(new Tenant(5));
  first.get(5).connection.query = async () => {
    failures += 1;
    throw lost;
  };
  assert.deepEqual(await data.randomRows(new Tenant(5)), [{ ID: 2 }]);
  assert.equal(failures, 1);
});

test('other failures are not retried, and the connection is dropped', async () => {
  const denied = Object.assign(new Error('denied'), { errno: 1142, sqlState: '42000', sqlMessage: 'SELECT command denied' });
  let queries = 0;
  const { data, opened } = tenantData({
    connect: async () =>
      opened[
        opened.push(
          fakeConnection(async () => {
            queries += 1;
            throw denied;
          }),
        ) - 1
      ],
  });
  await assert.rejects(data.randomRows(new Tenant(4)), (error) => error.errno === 1142 && error.serverMessage === 'SELECT command denied');
  assert.equal(queries, 1);
  assert.equal(opened[0].ended, true);
  assert.equal(data.openConnections, 0);
});

test('per_request opens, answers and closes every time', async () => {
  const { data, opened } = tenantData({ mode: 'per_request' });
  for (let i = 0; i < 3; i += 1) await data.randomRows(new Tenant(6));
  assert.equal(opened.length, 3);
  assert.ok(opened.every((c) => c.ended));
  assert.equal(data.openConnections, 0);
});

test('five distinct ids of the table per request', async () => {
  let seen;
  const { data } = tenantData({
    connect: async () =>
      fakeConnection(async ({ values }) => {
        seen = values;
        return [[]];
      }),
  });
  await data.randomRows(new Tenant(1));
  assert.equal(new Set(seen).size, 5);
  assert.ok(seen.every((id) => Number.isInteger(id) && id >= 1 && id <= 1000));
});
