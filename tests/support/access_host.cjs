'use strict';
/**
 * Runs the packaged Node.js access function as one Lambda instance for the contract suite
 * (tests/support/access_runtimes.py drives it; access_host.py does the same for Python).
 *
 * Events arrive as JSON lines on stdin; each answer goes back as one JSON line on the pipe
 * ACCESS_TEST_ANSWER_FD names, so the
 * function's own log lines keep stdout to themselves. The one seam is the login secret: MariaDB cannot
 * check IAM tokens, so the real token path runs (AssumeRole on the STS endpoint the environment names,
 * a token signed with the tenant's session) and the tenant's native password is what logs in.
 */
const fs = require('node:fs');
const dns = require('node:dns');
const readline = require('node:readline');

const functionDir = process.env.ACCESS_FUNCTION_DIR;
const handlerModule = require(`${functionDir}/access_handler.js`);
const { tlsServerName } = require(`${functionDir}/contract.js`);
const { nativePasswordInstance } = require('../../loadtest/local/native_password_instance.cjs');

// The VPC's DNS, standing in: names under these suffixes resolve to the local server.
const loopback = (process.env.ACCESS_TEST_LOOPBACK_SUFFIXES || '').split(',').filter(Boolean);
const realLookup = dns.lookup;
dns.lookup = (hostname, options, callback) => {
  const done = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'function' ? {} : options;
  if (!loopback.some((suffix) => hostname.endsWith(suffix))) return realLookup(hostname, options, callback);
  return opts.all ? done(null, [{ address: '127.0.0.1', family: 4 }]) : done(null, '127.0.0.1', 4);
};

const signed = [];
const instance = nativePasswordInstance(functionDir, process.env.ACCESS_TEST_PASSWORDS, signed);
const context = { functionName: 'contract-test', awsRequestId: 'contract', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:contract-test', memoryLimitInMB: '512', functionVersion: '$LATEST', getRemainingTimeInMillis: () => 10000 };

async function perform(request) {
  switch (request.op) {
    case 'invoke':
      try {
        instance.get();
        return { response: await handlerModule.handler(request.event, context) };
      } catch (error) {
        return { function_error: { type: error.name, message: error.message } };
      }
    case 'tokens':
      return { tokens: signed };
    case 'stats':
      return { stats: { ...instance.get().stats, open_connections: instance.get().openConnections } };
    case 'server_names':
      return { names: request.hosts.map(tlsServerName) };
    case 'bench': {
      instance.get();
      const samples = [];
      for (const id of request.tenants) {
        const started = process.hrtime.bigint();
        const response = await handlerModule.handler({ queryStringParameters: { tenant: String(id) }, requestContext: { requestId: 'bench' } }, context);
        samples.push(Number(process.hrtime.bigint() - started) / 1e6);
        if (response.statusCode !== 200) throw new Error(`bench request for ${id} answered ${response.statusCode}`);
      }
      return { samples_ms: samples };
    }
    case 'reset_stats':
      Object.assign(instance.get().stats, { requests: 0, opened: 0, reused: 0 });
      return {};
    case 'close':
      await instance.close();
      return {};
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

const answerFd = Number(process.env.ACCESS_TEST_ANSWER_FD);
const lines = readline.createInterface({ input: process.stdin });
(async () => {
  for await (const line of lines) {
    const answer = await perform(JSON.parse(line));
    fs.writeSync(answerFd, `${JSON.stringify(answer)}\n`);
  }
})();
