'use strict';
/**
 * Cross-tenant access, tried on purpose through the function's own code path (as
 * lambda/isolation_check.py): for tenants A and B, A's own login (the check must be able to log in at
 * all), then B's user with a token A's session signed, A's user on B's database, and A reading B's table
 * by name, each with the server's own answer. Only a direct invocation reaches it (API Gateway always
 * sends a requestContext); it reads no tenant rows, whatever happens.
 */
const { contract, tenancy } = require('./contract');
const db = require('./db');

const KEY = contract.isolation_check_event_key;

/** The check a direct invocation asks for; null for anything API Gateway sends. Throws on a bad request. */
function requested(event) {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return null;
  if (!Object.hasOwn(event, KEY) || Object.hasOwn(event, 'requestContext')) return null;
  const request = event[KEY] ?? {};
  for (const field of ['tenant', 'other']) {
    if (!Number.isSafeInteger(request[field]) || request[field] < 0) {
      throw new TypeError(`${KEY}.${field} must be a non-negative integer`);
    }
  }
  if (request.tenant === request.other) throw new TypeError('name two different tenants');
  return { tenant: request.tenant, other: request.other };
}

async function attempt(kind, user, database, expected, login, statement) {
  const base = { kind, user: user.dbUser, database, expected };
  try {
    const connection = await login();
    try {
      if (statement) await db.query(connection, statement); // read and dropped: outcomes only, never rows
    } finally {
      await connection.end().catch(() => connection.destroy());
    }
  } catch (error) {
    if (error.code === undefined && error.sqlState === undefined) throw error; // not the database's answer
    const errno = error.sqlState ? error.errno : null;
    return { ...base, outcome: 'denied', errno, message: error.sqlMessage ?? error.message };
  }
  return { ...base, outcome: 'allowed', errno: null, message: null };
}

async function run(a, b, route, passwords, connect, caFile) {
  const login = (session, user, database) => async () => {
    const target = route(user);
    const password = await passwords.passwordAs(session, route(session), user, target);
    return connect({ host: target.endpoint, port: target.port, user: user.dbUser, password, database, caFile });
  };
  const attempts = [
    await attempt('own user on own database', a, a.database, 'allowed', login(a, a, a.database)),
    await attempt(`tenant ${b.id}'s user with tenant ${a.id}'s credentials`, b, b.database, 'denied', login(a, b, b.database)),
    await attempt(`tenant ${a.id}'s user on tenant ${b.id}'s database`, a, b.database, 'denied', login(a, a, b.database)),
    await attempt(
      `tenant ${a.id}'s user reading tenant ${b.id}'s table by name`,
      a,
      null,
      'denied',
      login(a, a, null),
      `SELECT COUNT(*) FROM \`${b.database}\`.\`${tenancy.table}\``,
    ),
  ];
  return {
    tenant: a.id,
    other: b.id,
    isolated: attempts.every((item) => item.outcome === item.expected),
    attempts,
  };
}

module.exports = { requested, run };
