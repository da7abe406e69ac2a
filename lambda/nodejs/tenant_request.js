'use strict';
/**
 * Which tenant a request names: `GET /?tenant=N` with N a canonical decimal in 0..tenant_count-1.
 * The same answers as lambda/tenant_request.py for every event (the contract suite feeds both the same
 * malformed events and compares).
 */
const { TENANT_ID, Tenant } = require('./contract');

class BadRequest extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const isMapping = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);
/** Python's truthiness, which the Python function applies to a missing or empty field (`field or {}`). */
const isEmpty = (value) =>
  value === undefined || value === null || value === false || value === 0 || value === '' ||
  (Array.isArray(value) && value.length === 0) || (isMapping(value) && Object.keys(value).length === 0);

function tenantFromEvent(event, tenantCount) {
  if (!isMapping(event)) throw new BadRequest('malformed_request', 'the request is not an API Gateway proxy event');
  for (const field of ['queryStringParameters', 'multiValueQueryStringParameters']) {
    if (!isEmpty(event[field]) && !isMapping(event[field])) {
      throw new BadRequest('malformed_request', `${field} is not a mapping`);
    }
  }
  const single = isEmpty(event.queryStringParameters) ? {} : event.queryStringParameters;
  const multi = isEmpty(event.multiValueQueryStringParameters) ? {} : event.multiValueQueryStringParameters;
  const values = isEmpty(multi.tenant) ? [] : multi.tenant;
  if (values.length > 1) throw new BadRequest('ambiguous_tenant', 'name exactly one tenant');
  const raw = Object.hasOwn(single, 'tenant') ? single.tenant : null;
  if (raw === null || raw === undefined) throw new BadRequest('missing_tenant', "query parameter 'tenant' is required");
  if (typeof raw !== 'string' || !TENANT_ID.test(raw)) {
    throw new BadRequest('invalid_tenant', 'tenant must be a decimal integer without sign or leading zeros');
  }
  const id = Number(raw);
  if (id >= tenantCount) throw new BadRequest('unknown_tenant', `tenant must be between 0 and ${tenantCount - 1}`);
  return new Tenant(id);
}

module.exports = { BadRequest, tenantFromEvent };
