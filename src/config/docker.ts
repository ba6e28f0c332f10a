import type { NetworkInterfaceInfo } from 'node:os';
import { DOCKER_ENDPOINT_PLACEHOLDER, type SettingId } from './defaults.js';
import { asListen, Invalid } from './parse.js';
import type { RawValue } from './types.js';

/** What the container knows about its own network (node:os in production, a table in tests). */
export interface OwnNetwork {
  interfaces(): NodeJS.Dict<NetworkInterfaceInfo[]>;
  hostname(): string;
}

/**
 * The address other machines reach this container on when nobody said (HOST unset, as under a plain
 * `docker run`): the first non-internal IPv4 interface address (the container's bridge or, with host
 * networking, the agent's), else the host name. Undefined when there is neither (only loopback, no name).
 */
export function ownAddress(net: OwnNetwork): { host: string; how: string } | undefined {
  for (const [name, addresses] of Object.entries(net.interfaces())) {
    const v4 = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (v4 !== undefined) return { host: v4.address, how: `the address of interface ${name}` };
  }
  const name = net.hostname().trim();
  if (name !== '' && name !== 'localhost') return { host: name, how: 'the host name' };
  return undefined;
}

export interface AutoHostResult {
  /** One line for the start-up log saying which address was taken, or why none. */
  readonly notice?: string;
  /** Set when the rule applied but found no address: callback mode then explains itself with it. */
  readonly missed?: string;
  /** Set when the address was guessed (HOST unset): callback mode warns that Marathon must reach it. */
  readonly guessed?: string;
}

/**
 * Bamboo's Docker run.sh rewrote `"Endpoint": "http://haproxy-ip-address:8000"` in the config file to
 * http://$HOST:8000 whenever BAMBOO_DOCKER_AUTO_HOST was non-empty; Bamboo's default file carried that
 * placeholder, so an endpoint left unset is filled too. The port is the REST API's (BIND, `:8000` in Bamboo's
 * image). Runs after every layer, so BAMBOO_ENDPOINT or --bamboo_endpoint win. Without HOST the container's own
 * address is used; finding none is not an error here: only callback mode needs the endpoint (validate says so).
 */
export function applyDockerAutoHost(env: NodeJS.ProcessEnv, raw: Map<SettingId, RawValue>, net: OwnNetwork): AutoHostResult {
  if ((env.BAMBOO_DOCKER_AUTO_HOST ?? '') === '') return {};
  const current = raw.get('bamboo.endpoint');
  if (current !== undefined && current.value !== DOCKER_ENDPOINT_PLACEHOLDER && current.value !== '') return {};
  const given = env.HOST?.trim() ?? '';
  const found = given === '' ? ownAddress(net) : { host: given, how: 'HOST' };
  if (found === undefined) {
    const missed = 'BAMBOO_DOCKER_AUTO_HOST is set, HOST is empty and this container has no non-loopback IPv4 address or host name';
    return { notice: `${missed}: Bamboo.Endpoint stays unset`, missed };
  }
  const hostPart = found.host.includes(':') && !found.host.startsWith('[') ? `[${found.host}]` : found.host;
  const endpoint = `http://${hostPart}:${bindPort(raw.get('http.bind'))}`;
  raw.set('bamboo.endpoint', {
    value: endpoint,
    origin: { layer: 'docker', where: `env BAMBOO_DOCKER_AUTO_HOST with ${given === '' ? found.how : `HOST=${given}`}` },
  });
  const notice = `BAMBOO_DOCKER_AUTO_HOST: Bamboo.Endpoint is ${endpoint} (${found.how}${given === '' ? ', HOST is unset' : ''})`;
  return given === '' ? { notice, guessed: endpoint } : { notice };
}

/** The REST port a BIND value names; Bamboo's 8000 while it is unset or unreadable (validate reports a bad one). */
function bindPort(bind: RawValue | undefined): number {
  if (bind === undefined) return 8000;
  try {
    return asListen(bind.value).port || 8000;
  } catch (err) {
    if (err instanceof Invalid) return 8000;
    throw err;
  }
}
