/**
 * `GET /api/openapi.json`: an OpenAPI 3.1 document of every route culm serves, Bamboo's and its own, with the
 * schemas of bodies and answers and the error shape. Written by hand, route by route, so that it says what
 * the routes mean; test/unit/openapi.test.ts checks it against the router (each served route documented,
 * nothing documented that is not served) and test/integration/openapi.test.ts checks real answers against it.
 */
import { ERROR_CODES } from '../core/error-codes.js';
import { sendJson } from './io.js';
import type { Route } from './router.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const num: Schema = { type: 'number' };
const bool: Schema = { type: 'boolean' };
const arrayOf = (items: Schema): Schema => ({ type: 'array', items });
const mapOf = (values: Schema): Schema => ({ type: 'object', additionalProperties: values });
const object = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({ type: 'object', properties, required });
const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });

const SCHEMAS: Record<string, Schema> = {
  Error: object({ error: ref('ErrorDetail') }),
  ErrorDetail: object({
    code: { type: 'string', enum: Object.keys(ERROR_CODES) },
    message: { type: 'string', description: 'One line. For a rule HAProxy refuses: its first reason, short.' },
    detail: { type: 'string', description: 'The full text when `message` is a short form of it (HAProxy\'s whole output, cleaned).' },
  }, ['code', 'message']),
  Rule: object({ Id: str, Acl: str, Config: mapOf(str) }),
  RuleBody: {
    type: 'object',
    description: 'Keys are case-insensitive (Go\'s encoding/json); unknown keys are ignored; `null` leaves a field unset. An empty ACL is a 400 (`E_RULE_INVALID`): delete the rule to use the default ACL.',
    properties: { id: str, acl: str, config: mapOf(str) },
  },
  Task: object({ Id: str, Host: str, Port: int, Ports: arrayOf(int), Alive: bool, State: str, Ready: bool }),
  App: object({
    Id: str, MesosDnsId: str, EscapedId: str, HealthCheckPath: str, HealthCheckProtocol: str,
    HealthChecks: arrayOf(object({ Protocol: str, Path: str, PortIndex: int })),
    ReadinessCheckPath: str, Tasks: arrayOf(ref('Task')), ServicePort: int, ServicePorts: arrayOf(int),
    Env: mapOf(str), Labels: mapOf(str), SplitId: arrayOf(str),
    ipAddress: object({ discovery: object({ ports: arrayOf(object({ number: int, name: str, protocol: str })) }) }),
    NotServed: str,
  }),
  State: object({ Apps: arrayOf(ref('App')), Services: mapOf(ref('Rule')) }),
  ApplyRecord: object({
    kind: { const: 'apply' }, at: int,
    result: { type: 'string', enum: ['applied', 'unchanged', 'invalid', 'reload-failed', 'error', 'skipped', 'deferred'] },
    reasons: arrayOf(str), durationMs: num, mode: { type: 'string', enum: ['reload', 'runtime'] },
    configHash: { type: 'string', pattern: '^[0-9a-f]{64}$' }, error: ref('ErrorDetail'),
    retryAt: int, validateMs: num, reloadMs: num, runtimeMs: num, maps: int, serverOps: int,
    diffId: { type: 'integer', description: 'Its diff against the config applied before: `GET /api/history/{diffId}/diff` (the last 50 are kept).' },
    leftOut: arrayOf(object({ kind: { type: 'string', enum: ['rule', 'app', 'cert'] }, id: str, error: str, stalled: bool }, ['kind', 'id', 'error'])),
  }, ['kind', 'at', 'result', 'reasons', 'durationMs']),
  RuleChangeRecord: object({
    kind: { const: 'rule' }, at: int, result: { type: 'string', enum: ['changed', 'refused'] },
    action: { type: 'string', enum: ['set', 'delete'] }, id: str, who: str, from: str,
    before: nullable(ref('Rule')), after: nullable(ref('Rule')),
    error: ref('ErrorDetail'), status: int, reasons: arrayOf(str), durationMs: num,
  }, ['kind', 'at', 'result', 'action', 'who', 'from', 'before', 'after', 'status', 'reasons', 'durationMs']),
  Readiness: object({
    status: { type: 'string', enum: ['ready', 'not ready'] },
    checks: mapOf(object({ ok: bool, detail: str })),
  }),
  MetricsSummary: object({
    events: object({ total: num, perSecond: num }),
    applies: mapOf(num),
    reloads: object({ count: num, meanMs: num, lastMs: nullable(num) }),
    runtime: object({ count: num, meanMs: num, failures: num }),
    validationFailures: num, haproxyRestarts: num,
  }),
  ServerStat: object({
    server: str, address: str,
    status: { type: 'string', description: 'HAProxy\'s: UP, DOWN, MAINT, DRAIN, NOLB, `no check`, or a transition such as `UP 1/3`.' },
    sessions: int, check: str, checkDetail: str,
  }),
  AppDetail: object({
    id: str, notServed: str, leftOut: bool, rule: nullable(ref('Rule')), ruleLeftOut: bool,
    routes: arrayOf(object({
      port: int, source: { type: 'string', enum: ['rule', 'labels', 'default', 'none'] }, backend: str, condition: str,
      acls: arrayOf(object({ name: str, acl: str })),
    })),
    tasks: arrayOf(object({
      id: str, host: str, port: int, state: str, healthy: nullable(bool), checked: bool, ready: bool, serving: bool,
      server: str, haproxy: nullable(ref('ServerStat')),
    })),
    backends: arrayOf(object({ name: str, servers: arrayOf(ref('ServerStat')), config: arrayOf(str) })),
    haproxy: object({ ok: bool, detail: str }),
  }),
  EventOutcome: object({ accepted: bool, kind: str, outcome: str }, ['accepted', 'kind']),
  Cluster: object({
    mode: { type: 'string', enum: ['standalone', 'zookeeper'] }, self: str, leader: nullable(str),
    instances: arrayOf(object({
      id: str, endpoint: str, callbackUrl: str, version: str, startedAt: int, leader: bool,
      lastApply: { type: 'object' },
    }, ['id', 'endpoint', 'version', 'startedAt', 'leader'])),
  }, ['self', 'leader', 'instances']),
};

const json = (schema: Schema, description: string): Schema => ({ description, content: { 'application/json': { schema } } });
const text = (type: string, description: string): Schema => ({ description, content: { [type]: { schema: str } } });
const errors: Schema = { default: json(ref('Error'), 'An error: `{"error":{"code","message"}}`; the codes are listed in the README.') };
const idParam = [{ name: 'id', in: 'path', required: true, schema: str, description: 'The app id, raw (`/grp/app`) or percent-encoded (`%2Fgrp%2Fapp`).' }];
const ruleBody = { required: true, content: { 'application/json': { schema: ref('RuleBody') }, 'application/x-www-form-urlencoded': { schema: ref('RuleBody') } } };

interface Operation { summary: string; responses: Record<string, Schema>; requestBody?: Schema; parameters?: unknown[] }

/** Every documented operation, keyed `METHOD route-name` (the router's route names are OpenAPI paths). */
const OPERATIONS: Record<string, Operation> = {
  'GET /status': { summary: 'Bamboo\'s liveness check', responses: { 200: text('text/plain', '`OK`') } },
  'GET /healthz': { summary: 'Liveness: the process answers', responses: { 200: json(object({ status: { const: 'ok' } }), 'alive') } },
  'GET /readyz': {
    summary: 'Readiness, with each dependency\'s detail',
    responses: { 200: json(ref('Readiness'), 'ready'), 503: json(ref('Readiness'), 'not ready') },
  },
  'GET /metrics': { summary: 'Prometheus text', responses: { 200: text('text/plain', 'metrics') } },
  'GET /api/history': {
    summary: 'The last applies and rule writes, oldest first',
    responses: { 200: json(arrayOf({ oneOf: [ref('ApplyRecord'), ref('RuleChangeRecord')] }), 'history') },
  },
  'GET /api/config': {
    summary: 'The HAProxy config applied now',
    parameters: [{ name: 'download', in: 'query', required: false, schema: { const: '1' }, description: '`1`: sent as an attachment (`haproxy.cfg`).' }],
    responses: { 200: text('text/plain', 'the config text') },
  },
  'GET /api/history/{id}/diff': {
    summary: 'The unified diff of one apply (its `diffId`) against the config applied before it, map files included; each is capped at 16 KB',
    parameters: [{ name: 'id', in: 'path', required: true, schema: str, description: 'An apply record\'s `diffId`.' }],
    responses: { 200: text('text/plain', 'the diff (empty when only the map file names changed)') },
  },
  'GET /api/metrics/summary': { summary: 'The console\'s figures: events/s (last minute), applies by result, reload and runtime times', responses: { 200: json(ref('MetricsSummary'), 'the summary') } },
  'GET /api/state': { summary: 'Bamboo\'s template data: apps and rules', responses: { 200: json(ref('State'), 'the state') } },
  'GET /api/apps/{id}': {
    summary: 'One app: its routes and where each comes from, its tasks beside HAProxy\'s live view of their servers, its backends\' applied config',
    parameters: idParam,
    responses: { 200: json(ref('AppDetail'), 'the app'), 404: json(ref('Error'), 'no such app (`E_APP_NOT_FOUND`)') },
  },
  'GET /api/services': { summary: 'All rules', responses: { 200: json(mapOf(ref('Rule')), 'rules by id') } },
  'POST /api/services': { summary: 'Create or replace a rule (id in the body)', requestBody: ruleBody, responses: { 200: json(ref('Rule'), 'the stored rule') } },
  'GET /api/services/{id}': { summary: 'One rule', parameters: idParam, responses: { 200: json(ref('Rule'), 'the rule') } },
  'PUT /api/services/{id}': { summary: 'Create or replace a rule', parameters: idParam, requestBody: ruleBody, responses: { 200: json(ref('Rule'), 'the stored rule') } },
  'DELETE /api/services/{id}': { summary: 'Delete a rule', parameters: idParam, responses: { 200: json({ type: 'object', maxProperties: 0 }, '`{}`') } },
  'POST /api/marathon/event_callback': {
    summary: 'Marathon\'s http_callback target (applied with the subscription\'s `?token=`, a hint without it)',
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
    responses: { 200: json(ref('EventOutcome'), 'what culm did with it') },
  },
  'GET /api/cluster': { summary: 'The instances sharing ZooKeeper, the leader, each one\'s last apply', responses: { 200: json(ref('Cluster'), 'the cluster') } },
  'GET /api/events': {
    summary: 'Live server-sent events: app, task, resync, apply, rule (each naming its app); at most 32 streams (429 beyond)',
    responses: { 200: text('text/event-stream', 'the stream') },
  },
  'GET /api/openapi.json': { summary: 'This document', responses: { 200: json({ type: 'object', required: ['openapi', 'paths'] }, 'OpenAPI 3.1') } },
  'GET /': { summary: 'The operator page', responses: { 200: text('text/html', 'the page') } },
  'GET /ui': { summary: 'The operator page', responses: { 200: text('text/html', 'the page') } },
  'GET /ui/history': { summary: 'The console\'s history page: applies with their diffs, rule changes with who made them', responses: { 200: text('text/html', 'the page') } },
  'GET /ui/cluster': { summary: 'The console\'s status page: readiness, the cluster\'s instances and their config hashes, metrics', responses: { 200: text('text/html', 'the page') } },
};

/** The operations documented, as `METHOD path` keys. */
export function documentedOperations(): string[] {
  return Object.keys(OPERATIONS);
}

export function openApiDocument(version: string): Schema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, op] of Object.entries(OPERATIONS)) {
    const [method, path] = key.split(' ');
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = { ...op, responses: { ...op.responses, ...errors } };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'culm',
      version,
      description: 'Marathon service discovery for HAProxy, Bamboo\'s REST API and culm\'s own. Writes (and, with CULM_API_READ_AUTH, reads) take a bearer token or basic auth when one is configured.',
    },
    components: {
      schemas: SCHEMAS,
      securitySchemes: { token: { type: 'http', scheme: 'bearer' }, users: { type: 'http', scheme: 'basic' } },
    },
    paths,
  };
}

export function openApiRoutes(version: string): Route[] {
  const body = openApiDocument(version);
  return [{ name: '/api/openapi.json', path: '/api/openapi.json', handlers: { GET: ({ res }) => sendJson(res, 200, body) } }];
}
