'use strict';
/**
 * Database connections over TLS with certificate verification (as lambda/db.py).
 *
 * The name checked is the endpoint's own, except on RDS Proxy endpoints one creates, whose certificate is
 * the proxy's wildcard (constructs_lib/endpoints.py says which name, and why). mysql2 checks the name it
 * connects to, so it is given the name to check as `host` and a socket to the real endpoint as `stream`.
 * One TLS options object per CA file: mysql2 keeps one secure context per options object, so the bundle is
 * read and parsed once per instance, not on every login.
 */
const fs = require('node:fs');
const net = require('node:net');
const mysql = require('mysql2/promise');
const { contract, tlsServerName } = require('./contract');

const tlsOptions = new Map();

function tls(caFile) {
  if (!tlsOptions.has(caFile)) {
    tlsOptions.set(caFile, {
      ca: fs.readFileSync(caFile),
      rejectUnauthorized: true, // the chain must reach the packaged trust store
      verifyIdentity: true, // and the certificate must be the server name's
      minVersion: 'TLSv1.2',
    });
  }
  return tlsOptions.get(caFile);
}

/** Over TLS only: IAM auth tokens travel as cleartext passwords, which TLS makes safe. */
async function connect({ host, port, user, password, database, caFile }) {
  const serverName = tlsServerName(host);
  const connection = await mysql.createConnection({
    host: serverName,
    port,
    stream: serverName === host ? undefined : () => net.connect(port, host),
    user,
    password,
    database: database ?? undefined,
    ssl: tls(caFile),
    connectTimeout: contract.db.connect_timeout_seconds * 1000,
    // RDS IAM authentication asks for the token in the clear (mysql_clear_password); TLS protects it.
    enableCleartextPlugin: true,
  });
  // A kept connection can die while idle (server restart, idle timeout); remember it instead of crashing.
  connection.on('error', (error) => {
    connection.lostWith = error;
  });
  return connection;
}

/** A query with the read timeout the Python function has. */
async function query(connection, sql, values) {
  const [rows] = await connection.query({ sql, values, timeout: contract.db.read_timeout_seconds * 1000 });
  return rows;
}

module.exports = { connect, query };
