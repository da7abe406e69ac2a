'use strict';
/**
 * One instance of the Node.js access function, as Lambda runs it (the twin of loadtest/local/instance.py,
 * started by loadtest/local/lambda_pool.py, never by hand).
 *
 * It starts cold: it loads the packaged handler module, and on its first event the handler builds its
 * per-instance state itself, exactly as on Lambda. Events arrive as JSON lines on stdin and answers leave
 * as JSON lines on stdout (the function's own log lines go to stderr); end of input ends the instance,
 * which closes what it kept. The only seam: the final database login uses the tenant's native password
 * (MariaDB cannot check an IAM token), read from the file REHEARSAL_NATIVE_PASSWORDS_FILE names.
 */
const readline = require('node:readline');

const protocol = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr); // logs must not mix with the answers

const functionDir = process.env.REHEARSAL_NODEJS_FUNCTION;
const handlerModule = require(`${functionDir}/access_handler.js`);
const { nativePasswordInstance } = require('./native_password_instance.cjs');

const instance = nativePasswordInstance(functionDir, process.env.REHEARSAL_NATIVE_PASSWORDS_FILE);
const context = {
  functionName: process.env.POWERTOOLS_SERVICE_NAME || 'access',
  awsRequestId: 'rehearsal',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:rehearsal',
  memoryLimitInMB: '512',
  functionVersion: '$LATEST',
  getRemainingTimeInMillis: () => 10000,
};

(async () => {
  protocol(`${JSON.stringify({ ready: process.pid, runtime: 'nodejs' })}\n`);
  for await (const line of readline.createInterface({ input: process.stdin })) {
    instance.get();
    protocol(`${JSON.stringify(await handlerModule.handler(JSON.parse(line), context))}\n`);
  }
  await instance.close();
})();
