'use strict';
/**
 * Read a tenant's data, over a connection kept per tenant (`kept`) or opened per request (`per_request`),
 * as lambda/tenant_data.py: kept connections are bounded (the least recently used is closed first, before
 * another opens) and aged (one older than the policy's maximum age logs in again with a fresh token, so
 * IAM decides again); a kept connection that died is replaced once; any other failure closes the
 * connection before it propagates. `per_request` keeps nothing: the original sample's design.
 */
const crypto = require('node:crypto');
const { BoundedCache } = require('./tenant_access');
const { contract, tenancy } = require('./contract');
const db = require('./db');

const QUERY =
  `SELECT \`ID\`, ${tenancy.value_columns.map((c) => `\`${c}\``).join(', ')} FROM \`${tenancy.table}\` ` +
  `WHERE \`ID\` IN (${Array(contract.rows_per_request).fill('?').join(', ')}) ORDER BY \`ID\``;

/** The database refused or failed: the request gets 503, the log gets the server's own words. */
class DatabaseError extends Error {
  constructor(cause) {
    super(cause.message, { cause });
    this.errorClass = cause.code ?? cause.name;
    this.errno = cause.sqlState ? cause.errno : null; // the server's error number; network failures have none
    this.serverMessage = cause.sqlMessage ?? cause.message;
  }
}

/** No credentials or token for the tenant (STS refused, throttled or unreachable): 502. */
class CredentialsError extends Error {
  constructor(cause) {
    super(cause.message, { cause });
    this.errorClass = cause.name;
  }
}

/** Log out (COM_QUIT) and wait for the server to close; a broken connection is just dropped. */
function closeQuietly(connection) {
  return connection.end().catch(() => connection.destroy());
}

/** Five distinct random ids of the tenant's table. */
function randomIds(random = crypto.randomInt) {
  const ids = new Set();
  while (ids.size < contract.rows_per_request) ids.add(random(1, tenancy.rows_per_tenant + 1));
  return [...ids];
}

class TenantData {
  constructor({ route, passwords, connect = db.connect, caFile, policy, clock = Date.now }) {
    this.route = route;
    this.passwords = passwords;
    this.connect = connect;
    this.caFile = caFile;
    this.policy = policy;
    this.clock = clock;
    this.connections = new BoundedCache(policy.maxKept, (kept) => closeQuietly(kept.connection));
    this.stats = { requests: 0, opened: 0, reused: 0 };
  }

  async randomRows(tenant) {
    this.stats.requests += 1;
    const ids = randomIds();
    if (this.policy.perRequest) {
      const connection = await this.open(tenant);
      try {
        return await this.query(connection, ids);
      } finally {
        await closeQuietly(connection); // closed before the answer, as the Python function does
      }
    }
    for (const attempt of [1, 2]) {
      const { connection, reused } = await this.keptConnection(tenant);
      try {
        return await this.query(connection, ids);
      } catch (error) {
        await this.forget(tenant);
        if (attempt === 1 && reused && error.cause?.fatal) continue; // the kept connection had died: once more
        throw error;
      }
    }
    throw new Error('unreachable');
  }

  async forget(tenant) {
    const kept = this.connections.pop(tenant.id);
    if (kept) await closeQuietly(kept.connection);
  }

  get openConnections() {
    return this.connections.size;
  }

  /** Close every kept connection (an instance shutting down). */
  async close() {
    await Promise.all(this.connections.clear());
  }

  async keptConnection(tenant) {
    let kept = this.connections.get(tenant.id);
    if (kept && (kept.connection.lostWith || this.clock() - kept.openedAt >= this.policy.maxAgeSeconds * 1000)) {
      await this.forget(tenant); // dead, or old enough that IAM should decide again: log in again
      kept = undefined;
    }
    if (kept) {
      this.stats.reused += 1;
      return { connection: kept.connection, reused: true };
    }
    await Promise.all(this.connections.makeRoom()); // close first: never more than the bound, even briefly
    const openedAt = this.clock();
    const connection = await this.open(tenant);
    this.connections.put(tenant.id, { connection, openedAt });
    return { connection, reused: false };
  }

  async open(tenant) {
    const target = this.route(tenant);
    let password;
    try {
      password = await this.passwords.password(tenant, target);
    } catch (error) {
      throw new CredentialsError(error);
    }
    let connection;
    try {
      connection = await this.connect({
        host: target.endpoint,
        port: target.port,
        user: tenant.dbUser,
        password,
        database: tenant.database,
        caFile: this.caFile,
      });
    } catch (error) {
      throw new DatabaseError(error);
    }
    this.stats.opened += 1;
    return connection;
  }

  async query(connection, ids) {
    try {
      return await db.query(connection, QUERY, ids);
    } catch (error) {
      throw new DatabaseError(error);
    }
  }
}

module.exports = { CredentialsError, DatabaseError, TenantData };
