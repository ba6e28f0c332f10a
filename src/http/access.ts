/**
 * The REST API's access settings, made once at start from the config: the authenticator (token, users file)
 * and the Host names writes may carry. A users file that cannot be read or has a bad line stops culm (E_CONFIG),
 * like any bad setting: starting with writes open when the operator meant them closed would be worse.
 */
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import type { CulmConfig } from '../config/index.js';
import { CulmError, errorMessage } from '../core/errors.js';
import { ApiAuth } from './auth.js';
import { parseUsersFile } from './passwords.js';
import { allowedHosts, defaultAllowedHostEntries, type AllowedHosts } from './write-origin.js';

export interface ApiAccess {
  auth: ApiAuth;
  hosts: AllowedHosts;
  /** The names writes may carry, for the start-up log. */
  hostList: readonly string[];
  /** Start-up warnings (open writes). */
  warnings: string[];
}

export function apiAccess(config: CulmConfig): ApiAccess {
  const users = config.api.usersFile === undefined ? undefined : readUsers(config.api.usersFile);
  const auth = new ApiAuth({ token: config.api.token, users, readAuth: config.api.readAuth });
  const hostList = config.api.allowedHosts ?? defaultAllowedHostEntries({
    bindHost: config.http.host,
    endpoint: config.bamboo.endpoint,
    hostname: hostname(),
    interfaceAddresses: Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)),
  });
  const warnings = auth.enabled ? [] : [
    'REST writes are open to anyone who can reach the API (no CULM_API_TOKEN or CULM_API_USERS_FILE): '
    + 'a rule can take any app\'s traffic (e.g. "always_true"); set one, or keep the port behind a firewall',
  ];
  return { auth, hosts: allowedHosts(hostList), hostList, warnings };
}

function readUsers(path: string): ReturnType<typeof parseUsersFile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CulmError('E_CONFIG', `config Culm.ApiUsersFile / CULM_API_USERS_FILE: cannot read ${path}: ${errorMessage(err)}`);
  }
  const users = parseUsersFile(text, path);
  if (users.size === 0) throw new CulmError('E_CONFIG', `config Culm.ApiUsersFile / CULM_API_USERS_FILE: ${path} lists no users`);
  return users;
}
