'use strict';
/**
 * Per-tenant AWS credentials and RDS IAM auth tokens: scoped to one tenant, reused while valid (as
 * lambda/tenant_access.py). The function never holds database permissions itself: for tenant N it
 * assumes its shard's tenant-access role with the session tag `tenant=N` and a session policy naming
 * `user{N}` alone, and signs a token for `user{N}` with those credentials.
 */
const { STSClient, AssumeRoleCommand } = require('@aws-sdk/client-sts');
const { Signer } = require('@aws-sdk/rds-signer');
const { contract, sessionPolicy, sessionTags } = require('./contract');

/** STS through the VPC's regional endpoint, with bounded attempts and timeouts (a 502 JSON, not a hang). */
function stsClient(region) {
  return new STSClient({
    region,
    maxAttempts: contract.sts.max_attempts,
    requestHandler: {
      connectionTimeout: contract.sts.connect_timeout_seconds * 1000,
      requestTimeout: contract.sts.read_timeout_seconds * 1000,
    },
  });
}

/**
 * Least-recently-used map with a size bound; `onEvict` releases what falls out (what it returns, e.g. the
 * promise of a closed connection, is handed back by the call that evicted). A bound of 0 keeps nothing.
 */
class BoundedCache {
  constructor(maxEntries, onEvict = () => {}) {
    this.entries = new Map();
    this.max = maxEntries;
    this.onEvict = onEvict;
  }

  get(key) {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  peek(key) {
    return this.entries.get(key);
  }

  put(key, value) {
    this.entries.delete(key);
    this.entries.set(key, value);
    const released = [];
    while (this.entries.size > this.max) released.push(this.evictOldest());
    return released;
  }

  /** Release the least recently used entries until one more fits (before opening what it will hold). */
  makeRoom() {
    const released = [];
    while (this.entries.size > 0 && this.entries.size >= this.max) released.push(this.evictOldest());
    return released;
  }

  pop(key) {
    const value = this.entries.get(key);
    this.entries.delete(key);
    return value;
  }

  clear() {
    const released = [];
    while (this.entries.size > 0) released.push(this.evictOldest());
    return released;
  }

  get size() {
    return this.entries.size;
  }

  evictOldest() {
    const [key, value] = this.entries.entries().next().value;
    this.entries.delete(key);
    return this.onEvict(value);
  }
}

/** Credentials for one tenant on one shard's role, never reused for another tenant or another role. */
const targetKey = (tenant, target) => `${tenant.id}|${target.roleArn}|${target.endpoint}`;

class TenantCredentialSource {
  constructor(sts, { clock = Date.now, maxEntries = contract.kept_credential_entries, logger } = {}) {
    this.sts = sts;
    this.clock = clock;
    this.logger = logger;
    this.cache = new BoundedCache(maxEntries);
  }

  async get(tenant, target) {
    const key = targetKey(tenant, target);
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt - contract.credential_refresh_margin_seconds * 1000 > this.clock()) return cached;
    const response = await this.sts.send(
      new AssumeRoleCommand({
        RoleArn: target.roleArn,
        RoleSessionName: `tenant-${tenant.id}`,
        DurationSeconds: contract.tenancy.session_seconds,
        Policy: sessionPolicy(tenant, target),
        Tags: sessionTags(tenant),
      }),
    );
    const packed = response.PackedPolicySize;
    if (packed !== undefined && packed >= contract.packed_policy_warning_percent) {
      this.logger?.warn(`session policy and tags at ${packed}% of STS's packed size limit`);
    }
    const raw = response.Credentials;
    const credentials = {
      accessKeyId: raw.AccessKeyId,
      secretAccessKey: raw.SecretAccessKey,
      sessionToken: raw.SessionToken,
      expiresAt: new Date(raw.Expiration).getTime(),
    };
    this.cache.put(key, credentials);
    return credentials;
  }
}

/** RDS IAM auth tokens for `user{N}`, signed with tenant N's credentials, reused for 10 minutes at most. */
class IamAuthTokens {
  constructor(region, credentials, { clock = Date.now, maxEntries = contract.kept_credential_entries } = {}) {
    this.region = region;
    this.credentials = credentials;
    this.clock = clock;
    this.tokens = new BoundedCache(maxEntries);
  }

  async password(tenant, target) {
    const now = this.clock();
    const key = targetKey(tenant, target);
    const cached = this.tokens.get(key);
    if (cached && cached.usableUntil > now) return cached.value;
    const credentials = await this.credentials.get(tenant, target);
    const value = await this.sign(credentials, target, tenant);
    // A token is only as good as the credentials that signed it.
    const usableUntil = Math.min(
      now + contract.token_reuse_seconds * 1000,
      credentials.expiresAt - contract.credential_refresh_margin_seconds * 1000,
    );
    this.tokens.put(key, { value, usableUntil });
    return value;
  }

  /** A token for `user` signed with `session`'s credentials, never kept: what the isolation check tries. */
  async passwordAs(session, sessionTarget, user, userTarget) {
    return this.sign(await this.credentials.get(session, sessionTarget), userTarget, user);
  }

  /** An auth token for `user` at `target`, signed with `credentials` (locally, no AWS call). */
  sign(credentials, target, user) {
    const { accessKeyId, secretAccessKey, sessionToken } = credentials;
    return new Signer({
      hostname: target.endpoint,
      port: target.port,
      username: user.dbUser,
      region: this.region,
      credentials: { accessKeyId, secretAccessKey, sessionToken },
    }).getAuthToken();
  }
}

module.exports = { BoundedCache, IamAuthTokens, TenantCredentialSource, stsClient };
