'use strict';
// Credentials and tokens over time, with a fake STS and a fake clock (the contract suite uses moto's STS).
const test = require('node:test');
const assert = require('node:assert/strict');
const { BoundedCache, IamAuthTokens, TenantCredentialSource, stsClient } = require('../tenant_access');
const { Tenant } = require('../contract');

const target = {
  endpoint: 'prx.example',
  port: 3306,
  roleArn: 'arn:aws:iam::123456789012:role/t-tenant-access',
  dbUserArn: (tenant) => `arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-1/${tenant.dbUser}`,
};

function fakeSts(now, packed) {
  const sts = {
    calls: [],
    send: async (command) => {
      sts.calls.push(command.input);
      return {
        Credentials: {
          AccessKeyId: `AKIA${sts.calls.length}`,
          SecretAccessKey: 's',
          SessionToken: 't',
          Expiration: new Date(now() + 3600_000),
        },
        PackedPolicySize: packed,
      };
    },
  };
  return sts;
}

test('credentials are renewed five minutes before they expire, not before', async () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const sts = fakeSts(() => now);
  const source = new TenantCredentialSource(sts, { clock: () => now });
  const first = await source.get(new Tenant(1), target);
  now = first.expiresAt - 300_000 - 1_000;
  assert.equal(await source.get(new Tenant(1), target), first);
  now = first.expiresAt - 300_000 + 1_000;
  await source.get(new Tenant(1), target);
  assert.equal(sts.calls.length, 2);
});

test('each tenant and role has its own credentials, from its own tagged session', async () => {
  const sts = fakeSts(Date.now);
  const source = new TenantCredentialSource(sts);
  const other = { ...target, roleArn: `${target.roleArn}-2` };
  await source.get(new Tenant(3), target);
  await source.get(new Tenant(4), target);
  await source.get(new Tenant(3), target);
  await source.get(new Tenant(3), other);
  assert.deepEqual(
    sts.calls.map((c) => [c.RoleSessionName, c.RoleArn, c.Tags[0].Value, JSON.parse(c.Policy).Statement[0].Resource]),
    [
      ['tenant-3', target.roleArn, '3', target.dbUserArn(new Tenant(3))],
      ['tenant-4', target.roleArn, '4', target.dbUserArn(new Tenant(4))],
      ['tenant-3', other.roleArn, '3', target.dbUserArn(new Tenant(3))],
    ],
  );
  assert.ok(sts.calls.every((c) => c.DurationSeconds === 3600));
});

test('a session policy near STS packed size limit is logged', async () => {
  const warnings = [];
  const source = new TenantCredentialSource(fakeSts(Date.now, 93), { logger: { warn: (m) => warnings.push(m) } });
  await source.get(new Tenant(1), target);
  assert.deepEqual(warnings, ["session policy and tags at 93% of STS's packed size limit"]);
});

test('tokens are reused for ten minutes at most, and are for the tenant at the endpoint', async () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const sts = fakeSts(() => now);
  const tokens = new IamAuthTokens('us-east-1', new TenantCredentialSource(sts, { clock: () => now }), { clock: () => now });
  let signings = 0;
  const sign = tokens.sign.bind(tokens);
  tokens.sign = (...args) => {
    signings += 1;
    return sign(...args);
  };
  const token = await tokens.password(new Tenant(8), target);
  const url = new URL(`https://${token}`);
  assert.equal(url.hostname, 'prx.example');
  assert.equal(url.searchParams.get('DBUser'), 'user8');
  assert.equal(url.searchParams.get('X-Amz-Expires'), '900');
  now += 9 * 60_000;
  assert.equal(await tokens.password(new Tenant(8), target), token);
  assert.equal(signings, 1);
  now += 2 * 60_000; // 11 minutes: a 15-minute token is not used this late
  await tokens.password(new Tenant(8), target);
  assert.equal(signings, 2);
});

test('per_request remembers nothing: a bound of 0', async () => {
  const sts = fakeSts(Date.now);
  const tokens = new IamAuthTokens('us-east-1', new TenantCredentialSource(sts, { maxEntries: 0 }), { maxEntries: 0 });
  await tokens.password(new Tenant(2), target);
  await tokens.password(new Tenant(2), target);
  assert.equal(sts.calls.length, 2);
});

test('a bounded cache evicts the least recently used, and makes room before a put', () => {
  const evicted = [];
  const cache = new BoundedCache(2, (value) => evicted.push(value));
  cache.put('a', 1);
  cache.put('b', 2);
  cache.get('a');
  cache.makeRoom();
  assert.deepEqual(evicted, [2]);
  assert.equal(cache.size, 1);
  assert.deepEqual(cache.clear(), [2]); // what onEvict returned, per entry
});

test('STS calls are bounded: three attempts, short timeouts', async () => {
  const client = stsClient('us-east-1');
  assert.equal(await client.config.maxAttempts(), 3);
  assert.equal(await client.config.region(), 'us-east-1');
});
