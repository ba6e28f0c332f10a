import t from 'tap';
import { haproxyEnvironment, runCommand } from '../../src/haproxy/command.js';

t.test("HAProxy's commands run without culm's secrets in their environment", async (t) => {
  const env = haproxyEnvironment({
    PATH: '/usr/bin:/bin', HOME: '/root', CULM_CALLBACK_TOKEN: 'a', CULM_API_TOKEN: 'b', MARATHON_PASSWORD: 'c',
    MARATHON_USER: 'd', MARATHON_ENDPOINT: 'http://u:p@m:8080', BAMBOO_ZK_AUTH: 'e:f', SOME_DB_PASSWORD: 'g', CULM_DATA_DIR: '/data',
  });
  t.same(Object.keys(env).sort(), ['CULM_DATA_DIR', 'HOME', 'PATH'], 'only what is not a secret is passed');
  process.env.CULM_API_TOKEN = 'must-not-leak';
  t.teardown(() => { delete process.env.CULM_API_TOKEN; });
  const result = await runCommand('echo "[${CULM_API_TOKEN}]"', 5000);
  t.equal(result.stdout.trim(), '[]', 'a command culm runs does not see it');
});
