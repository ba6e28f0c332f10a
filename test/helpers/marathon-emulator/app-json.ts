// An app definition as a client posts it (POST /v2/apps, PUT /v2/apps/{id}) read into the emulator's AppSpec,
// refused as Marathon 1.10 refuses it (MarathonExceptionMapper): a JSON type error is Play JSON's
// JsResultException, 422 {"message":"Invalid JSON","details":[{path, errors}]} (the RAML docs' examples say
// 400; the mapper answers 422 when every error is a validation error); a definition that parses but breaks a
// rule is a ValidationFailedException, 422 {"message":"Object is not valid","details":[...]}. Only the fields
// the emulator models are read; the others are accepted and ignored.
import type { AppSpec, HealthCheckSpec, NetworkMode } from './model.js';
import { normalizeAppId } from './model.js';

type Json = Record<string, unknown>;
export interface Refusal {
  status: number;
  body: Json;
}
export type Checked<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

/** PathId.ID_PATH_SEGMENT_PATTERN as Java's matches() applies it (the whole segment), and its validator's message. */
const SEGMENT = /^(?:^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])|(\.|\.\.)$)$/;
const SEGMENT_MESSAGE =
  "must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'";
const RESERVED = ['restart', 'tasks', 'versions', '.', '..'];
const NO_COMMAND = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";
const HEALTH_PROTOCOLS = new Set(['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP']);

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects Play-JSON-style type errors (`error.expected.jsstring`…) by JSON path. */
class Reader {
  readonly errors: Array<{ path: string; errors: string[] }> = [];

  fail(path: string, error: string): undefined {
    this.errors.push({ path, errors: [error] });
    return undefined;
  }

  string(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : this.fail(path, 'error.expected.jsstring');
  }

  int(v: unknown, path: string, min?: number): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.fail(path, 'error.expected.jsnumber');
    return min !== undefined && v < min ? this.fail(path, 'error.min') : v;
  }

  strings(v: unknown, path: string): Record<string, string> | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) return this.fail(path, 'error.expected.jsobject');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      const s = this.string(x, `${path}/${k}`);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }

  objects(v: unknown, path: string): Json[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return this.fail(path, 'error.expected.jsarray');
    return v.filter((x, i) => isObj(x) || this.fail(`${path}(${i})`, 'error.expected.jsobject') !== undefined) as Json[];
  }
}

function healthChecks(r: Reader, v: unknown): HealthCheckSpec[] | undefined {
  return r.objects(v, '/healthChecks')?.map((hc, i) => {
    const protocol = r.string(hc.protocol, `/healthChecks(${i})/protocol`) ?? 'HTTP';
    if (!HEALTH_PROTOCOLS.has(protocol)) r.fail(`/healthChecks(${i})/protocol`, 'error.expected.validenumvalue');
    const out: HealthCheckSpec = { protocol: protocol as HealthCheckSpec['protocol'] };
    const path = r.string(hc.path, `/healthChecks(${i})/path`);
    const portIndex = r.int(hc.portIndex, `/healthChecks(${i})/portIndex`, 0);
    const port = r.int(hc.port, `/healthChecks(${i})/port`, 0);
    return { ...out, ...(path === undefined ? {} : { path }), ...(portIndex === undefined ? {} : { portIndex }), ...(port === undefined ? {} : { port }) };
  });
}

/** Networking and service ports: `networks` + `container.portMappings` (1.5+), or `portDefinitions` (host). */
function ports(r: Reader, body: Json): Pick<AppSpec, 'network' | 'servicePorts' | 'containerPort' | 'networkName' | 'image'> {
  const out: Pick<AppSpec, 'network' | 'servicePorts' | 'containerPort' | 'networkName' | 'image'> = {};
  const networks = r.objects(body.networks, '/networks');
  const mode = networks?.[0] ? r.string(networks[0].mode, '/networks(0)/mode') : undefined;
  if (mode === 'container/bridge') out.network = 'bridge';
  else if (mode === 'container') {
    out.network = 'container';
    const name = r.string(networks?.[0].name, '/networks(0)/name');
    if (name !== undefined) out.networkName = name;
  } else if (mode !== undefined && mode !== 'host') r.fail('/networks(0)/mode', 'error.expected.validenumvalue');
  else if (networks) out.network = 'host' as NetworkMode;
  const container = body.container === undefined || body.container === null ? undefined : isObj(body.container) ? body.container : r.fail('/container', 'error.expected.jsobject');
  if (container && isObj(container.docker)) {
    const image = r.string(container.docker.image, '/container/docker/image');
    if (image !== undefined) out.image = image;
  }
  const mappings = container ? r.objects(container.portMappings, '/container/portMappings') : undefined;
  if (mappings && mappings.length > 0) {
    out.servicePorts = mappings.map((m, i) => r.int(m.servicePort, `/container/portMappings(${i})/servicePort`, 0) ?? 0);
    const first = r.int(mappings[0].containerPort, '/container/portMappings(0)/containerPort', 0);
    if (first !== undefined && first > 0) out.containerPort = first;
  }
  const defs = r.objects(body.portDefinitions, '/portDefinitions');
  if (defs && !out.servicePorts) out.servicePorts = defs.map((d, i) => r.int(d.port, `/portDefinitions(${i})/port`, 0) ?? 0);
  return out;
}

/** The fields of `body` the emulator models, type-checked; only those present (a partial update merges them). */
function fields(r: Reader, body: Json): Partial<AppSpec> & { args?: string[] } {
  const out: Partial<AppSpec> & { args?: string[] } = {};
  const set = <K extends keyof AppSpec>(k: K, v: AppSpec[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('instances', r.int(body.instances, '/instances', 0));
  set('cmd', r.string(body.cmd, '/cmd'));
  if (body.args !== undefined && body.args !== null) {
    if (Array.isArray(body.args) && body.args.every((a) => typeof a === 'string')) out.args = body.args as string[];
    else r.fail('/args', 'error.expected.jsarray');
  }
  set('labels', r.strings(body.labels, '/labels'));
  set('env', r.strings(body.env, '/env'));
  set('healthChecks', healthChecks(r, body.healthChecks));
  const readiness = r.objects(body.readinessChecks, '/readinessChecks');
  if (readiness?.[0]) {
    const portName = r.string(readiness[0].portName, '/readinessChecks(0)/portName');
    const path = r.string(readiness[0].path, '/readinessChecks(0)/path');
    out.readinessCheck = { ...(portName === undefined ? {} : { portName }), ...(path === undefined ? {} : { path }) };
  }
  Object.assign(out, ports(r, body));
  return out;
}

const invalidJson = (details: Array<{ path: string; errors: string[] }>): Refusal => ({ status: 422, body: { message: 'Invalid JSON', details } });
const notValid = (path: string, error: string): Refusal => ({ status: 422, body: { message: 'Object is not valid', details: [{ path, errors: [error] }] } });

/**
 * `body` as an app definition. `pathId`: the id from the URL (PUT), which wins over the body's; `existing`:
 * the stored app a partial update changes (its fields stay unless the body gives them).
 */
export function appSpecFrom(body: unknown, opts: { pathId?: string; existing?: AppSpec } = {}): Checked<AppSpec> {
  if (!isObj(body)) return { ok: false, refusal: invalidJson([{ path: '', errors: ['error.expected.jsobject'] }]) };
  const r = new Reader();
  const bodyId = r.string(body.id, '/id');
  const given = fields(r, body);
  if (r.errors.length > 0) return { ok: false, refusal: invalidJson(r.errors) };
  const rawId = opts.pathId ?? bodyId;
  if (rawId === undefined) return { ok: false, refusal: invalidJson([{ path: '/id', errors: ['error.path.missing'] }]) };
  const id = normalizeAppId(rawId);
  const segments = id.slice(1).split('/');
  if (id === '/' || !segments.every((s) => SEGMENT.test(s))) return { ok: false, refusal: notValid('/id', SEGMENT_MESSAGE) };
  if (RESERVED.includes(segments[segments.length - 1])) {
    return { ok: false, refusal: notValid('/id', `must not end with any of the following reserved keywords: ${RESERVED.join(', ')}`) };
  }
  const { args, ...spec } = given;
  const merged: AppSpec = { ...opts.existing, ...spec, id };
  if (!opts.existing && !merged.cmd && !args?.length && !isObj(body.container)) {
    return { ok: false, refusal: notValid('/', NO_COMMAND) };
  }
  return { ok: true, value: merged };
}
