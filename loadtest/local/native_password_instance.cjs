'use strict';
/**
 * The one seam of a Node.js access function instance run on this machine (the rehearsal's instance.cjs,
 * the tests' access_host.cjs): MariaDB cannot check IAM tokens, so the real token path runs (AssumeRole on
 * the STS endpoint the environment names, a token signed with the tenant's session) and the tenant's
 * native password is what logs in. Built at the first event, as the handler builds its own state, so a bad
 * environment fails that invocation.
 */
const fs = require('node:fs');

/** The instance's tenant data (`get()` builds it once; `close()` closes what it kept, if anything); every
 * token signed is appended to `signed`. */
function nativePasswordInstance(functionDir, passwordsFile, signed = []) {
  const handlerModule = require(`${functionDir}/access_handler.js`);
  const { accessConfigFromEnvironment } = require(`${functionDir}/contract.js`);
  const { stsClient } = require(`${functionDir}/tenant_access.js`);
  const nativePasswords = JSON.parse(fs.readFileSync(passwordsFile, 'utf8'));
  let data;
  const get = () => {
    if (!data) {
      const config = accessConfigFromEnvironment(process.env);
      const tokens = handlerModule.iamPasswords(config, process.env.AWS_REGION, stsClient(process.env.AWS_REGION));
      const passwords = {
        async password(tenant, target) {
          signed.push(await tokens.password(tenant, target));
          return nativePasswords[tenant.id];
        },
        async passwordAs(session, sessionTarget, user, userTarget) {
          signed.push(await tokens.passwordAs(session, sessionTarget, user, userTarget));
          return nativePasswords[session.id];
        },
      };
      data = handlerModule.buildTenantData(config, passwords);
      handlerModule.useInstance(config, data);
    }
    return data;
  };
  const close = async () => {
    if (data) await data.close();
  };
  return { get, close };
}

module.exports = { nativePasswordInstance };
