'use strict';
/**
 * Lambda entry point of the access API for the nodejs runtime: five random rows of the tenant a request
 * names, with that tenant's credentials only. The same contract as lambda/access_handler.py (the contract
 * suite in tests/test_access_contract.py runs both): request parsing and JSON 400 / 5xx answers, the
 * per-tenant AssumeRole with session tag and session policy, IAM tokens, TLS rules, connection policy.
 * Configuration comes from the environment the stack sets; what is built from it lives for the instance.
 */
const { Logger } = require('@aws-lambda-powertools/logger');
const { Tracer } = require('@aws-lambda-powertools/tracer');
const { contract, Tenant, accessConfigFromEnvironment } = require('./contract');
const { BadRequest, tenantFromEvent } = require('./tenant_request');
const { IamAuthTokens, TenantCredentialSource, stsClient } = require('./tenant_access');
const { CredentialsError, DatabaseError, TenantData } = require('./tenant_data');
const isolationCheck = require('./isolation_check');

const logger = new Logger();
const tracer = new Tracer();

function buildTenantData(config, passwords) {
  return new TenantData({ route: config.targetOf, passwords, caFile: config.caFile, policy: config.connections });
}

/** Tokens signed with each tenant's own session; remembered only where the policy keeps things. */
function iamPasswords(config, region, sts) {
  const maxEntries = config.connections.credentialEntries;
  return new IamAuthTokens(region, new TenantCredentialSource(sts, { maxEntries, logger }), { maxEntries });
}

let instance; // { config, data }: built at the first event, kept for the life of the instance

function current() {
  if (!instance) {
    const config = accessConfigFromEnvironment(process.env);
    const region = process.env.AWS_REGION;
    instance = { config, data: buildTenantData(config, iamPasswords(config, region, tracer.captureAWSv3Client(stsClient(region)))) };
  }
  return instance;
}

/** Replace what the instance built (tests and the local rehearsal: MariaDB cannot check IAM tokens). */
function useInstance(config, data) {
  instance = { config, data };
}

function respond(status, body) {
  return {
    statusCode: status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    body: JSON.stringify(body),
  };
}

const failure = (error) => respond(contract.failure_status[error], { error });

async function handler(event, context) {
  logger.resetKeys(); // keys appended for one request (its tenant) never reach the next request's lines
  logger.addContext(context);
  const requestId = event?.requestContext?.requestId;
  if (requestId !== undefined) logger.setCorrelationId(requestId);
  const segment = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
  const subsegment = segment?.addNewSubsegment(`## ${process.env._HANDLER}`);
  if (subsegment) {
    tracer.setSegment(subsegment);
    tracer.annotateColdStart();
    tracer.addServiceNameAnnotation();
  }
  try {
    // Responses hold tenant rows: they are never added to traces.
    const check = isolationCheck.requested(event);
    if (check !== null) return await crossTenantCheck(check);
    return await answer(event, current().data, current().config.tenantCount);
  } catch (error) {
    tracer.addErrorAsMetadata(error);
    throw error;
  } finally {
    if (subsegment) {
      subsegment.close();
      tracer.setSegment(segment);
    }
  }
}

/** The deployer's isolation check (direct invocation only); its attempts are logged with the server's words. */
async function crossTenantCheck(check) {
  const { config, data } = current();
  if (Math.max(check.tenant, check.other) >= config.tenantCount) {
    throw new RangeError(`tenants are 0..${config.tenantCount - 1}`);
  }
  const report = await isolationCheck.run(
    new Tenant(check.tenant),
    new Tenant(check.other),
    config.targetOf,
    data.passwords,
    data.connect,
    config.caFile,
  );
  logger.info('isolation check', { report });
  return report;
}

/** The function's whole behaviour for one event, given its (per-instance) tenant data. */
async function answer(event, data, tenantCount) {
  let tenant;
  try {
    tenant = tenantFromEvent(event, tenantCount);
  } catch (error) {
    if (!(error instanceof BadRequest)) throw error;
    logger.info('bad request', { error: error.code });
    return respond(400, { error: error.code, message: error.message });
  }
  logger.appendKeys({ tenant: tenant.id });
  try {
    return await readRows(data, tenant);
  } finally {
    logger.removeKeys(['tenant']);
  }
}

/** Answer for one tenant; failures become JSON 5xx with an error class, never internals. */
async function readRows(data, tenant) {
  let rows;
  try {
    rows = await data.randomRows(tenant);
  } catch (error) {
    if (error instanceof DatabaseError) {
      // The server's own words stay in the log (the evidence of a denial); they never reach the caller.
      logger.warn('database failure', {
        error_class: error.errorClass,
        mysql_errno: error.errno,
        mysql_message: error.serverMessage,
      });
      return failure('database_unavailable');
    }
    if (error instanceof CredentialsError) {
      logger.warn('credentials failure', { error_class: error.errorClass });
      return failure('credentials_unavailable');
    }
    logger.error('unexpected failure', error);
    return failure('internal_error');
  }
  return respond(200, { tenant: tenant.id, rows });
}

module.exports = { handler, buildTenantData, iamPasswords, useInstance };
