'use strict';
/**
 * The contract with the stack, read from `contract.json`, which packaging writes from
 * constructs_lib/function_contract.py (runtime_contract): environment names, tenant naming, token and
 * connection rules and the TLS name rule have one definition, in Python, and this runtime reads it
 * instead of keeping copies that could drift.
 */
const contract = require('./contract.json');

const tenancy = contract.tenancy;
const TENANT_ID = new RegExp(`^(?:${contract.tenant_id_pattern})$`);
const CUSTOM_PROXY_ENDPOINT = new RegExp(`^(?:${contract.custom_proxy_endpoint_pattern})$`);

/** A tenant: a MySQL user with its own database, reachable through its shard's endpoint and role. */
class Tenant {
  constructor(id) {
    if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`tenant id must be a non-negative integer, got ${id}`);
    this.id = id;
  }

  get dbUser() {
    return `${tenancy.db_user_prefix}${this.id}`;
  }

  get database() {
    return `${tenancy.database_prefix}${this.id}`;
  }

  get shard() {
    return Math.floor(this.id / tenancy.tenants_per_shard);
  }
}

function positiveInteger(env, key) {
  const text = env[key];
  if (!/^[0-9]+$/.test(text)) throw new Error(`${key} must be a decimal integer, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** What one instance keeps between requests (see ConnectionPolicy in function_contract.py). */
function connectionPolicy(mode, maxKept, maxAgeSeconds) {
  if (!contract.connection_modes.includes(mode)) {
    throw new Error(`connection mode is one of ${contract.connection_modes.join(', ')}, not ${JSON.stringify(mode)}`);
  }
  if (maxKept < 1) throw new Error('max_kept must be positive');
  if (maxAgeSeconds < 1 || maxAgeSeconds > contract.iam_token_lifetime_seconds) {
    throw new Error(`max_age_seconds must be 1..${contract.iam_token_lifetime_seconds} (an IAM token's lifetime)`);
  }
  const perRequest = mode === 'per_request';
  return { mode, maxKept, maxAgeSeconds, perRequest, credentialEntries: perRequest ? 0 : contract.kept_credential_entries };
}

/** The access function's configuration, as AccessConfig.from_environment reads it. */
function accessConfigFromEnvironment(env) {
  const keys = contract.environment;
  const missing = Object.values(keys).filter((key) => env[key] === undefined);
  if (missing.length) throw new Error(`access function environment lacks ${missing.join(', ')}`);
  const list = (key) => env[key].split(',').filter(Boolean);
  const config = {
    endpoints: list(keys.endpoints),
    resourceIds: list(keys.resource_ids),
    tenantRoleArn: env[keys.tenant_role_arn],
    dbUserArnPrefix: env[keys.db_user_arn_prefix],
    tenantCount: positiveInteger(env, keys.tenant_count),
    connections: connectionPolicy(
      env[keys.mode],
      positiveInteger(env, keys.max_kept),
      positiveInteger(env, keys.max_age_seconds),
    ),
    caFile: env[keys.ca_file],
    port: positiveInteger(env, keys.port),
  };
  const shards = Math.ceil(config.tenantCount / tenancy.tenants_per_shard);
  if (config.tenantCount < 1) throw new Error('tenant_count must be positive');
  if (config.endpoints.length !== config.resourceIds.length || ![1, shards].includes(config.endpoints.length)) {
    throw new Error(`list one endpoint and resource id per shard (${shards}), or one for all`);
  }
  if (shards > 1 && !config.tenantRoleArn.includes(tenancy.shard_placeholder)) {
    throw new Error(`several shards need a tenant role ARN template with ${tenancy.shard_placeholder}`);
  }
  /** Where a tenant's connections go, and the role its credentials come from. */
  config.targetOf = (tenant) => {
    const index = config.endpoints.length > 1 ? tenant.shard : 0;
    return {
      endpoint: config.endpoints[index],
      port: config.port,
      roleArn: config.tenantRoleArn.replace(tenancy.shard_placeholder, String(tenant.shard)),
      resourceId: config.resourceIds[index],
      dbUserArn: (user) => `${config.dbUserArnPrefix}${config.resourceIds[index]}/${user.dbUser}`,
    };
  };
  return config;
}

/** The inline session policy: defence in depth on top of the role's tag-scoped permission. */
function sessionPolicy(tenant, target) {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: target.dbUserArn(tenant) }],
  });
}

function sessionTags(tenant) {
  return [{ Key: tenancy.tenant_tag, Value: String(tenant.id) }];
}

/** The name the certificate of `host` must be valid for (see constructs_lib/endpoints.py for why). */
function tlsServerName(host) {
  const match = CUSTOM_PROXY_ENDPOINT.exec(host);
  return match ? `${match.groups.label}.${match.groups.domain}` : host;
}

module.exports = {
  contract,
  tenancy,
  TENANT_ID,
  Tenant,
  accessConfigFromEnvironment,
  sessionPolicy,
  sessionTags,
  tlsServerName,
};
