/**
 * Bamboo's service API (per-app rules): list, create, update, delete, plus `GET /api/services/{id}`.
 * Bodies are decoded the way Go's encoding/json decoded Bamboo's `Service` struct (keys case-insensitive,
 * unknown keys ignored, `null` leaves a field unset), then checked harder than Bamboo did: a body that is not
 * an object of the right types is a 400 and the core is never called.
 */
import { CulmError } from '../../core/errors.js';
import { checkRule, makeRule, normaliseRuleId, ruleToBamboo } from '../../core/rules.js';
import type { CulmCore } from '../../pipeline/types.js';
import { badRequest, isPlainObject, parseJson, readBody, requireJsonish, sendJson } from '../io.js';
import type { RequestContext, Route } from '../router.js';

/** A rule is a few short strings; anything near this size is a mistake or an attack. */
export const RULE_BODY_LIMIT = 64 * 1024;

export interface ServiceBody {
  id?: string;
  acl?: string;
  config?: Record<string, string>;
}

export function parseServiceBody(value: unknown): ServiceBody {
  if (!isPlainObject(value)) {
    throw badRequest('E_BAD_BODY', 'body must be a JSON object such as {"id": "/app", "acl": "path_beg -i /app"}');
  }
  const body: ServiceBody = {};
  for (const [key, field] of Object.entries(value)) {
    if (field === null) continue;
    switch (key.toLowerCase()) {
      case 'id':
        if (typeof field !== 'string') throw badRequest('E_BAD_BODY', `"${key}" must be a string`);
        body.id = field;
        break;
      case 'acl':
        if (typeof field !== 'string') throw badRequest('E_BAD_BODY', `"${key}" must be a string`);
        body.acl = field;
        break;
      case 'config':
        body.config = parseConfig(key, field);
        break;
      default:
        // Go ignored unknown keys; clients that send extra fields (UI frameworks do) keep working.
        break;
    }
  }
  return body;
}

function parseConfig(key: string, value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw badRequest('E_BAD_BODY', `"${key}" must be an object of strings`);
  for (const [name, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw badRequest('E_BAD_BODY', `"${key}.${name}" must be a string`);
  }
  // fromEntries defines own properties: a "__proto__" key stays a plain key.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

/**
 * Bamboo kept the ACL twice (`Acl` and `Config.Acl`) and its own UI sent only `config.Acl`; a non-empty
 * top-level `acl` wins, as in Bamboo's storage. An empty (or blank) ACL is a 400: Bamboo stored it as a rule
 * that looked set but routed by the default; deleting the rule is how to go back to the default ACL.
 */
export function resolveAcl(body: ServiceBody): string {
  const acl = body.acl || (body.config?.Acl ?? body.acl);
  if (acl === undefined) throw badRequest('E_RULE_ACL', 'acl is required (delete the rule to use the default ACL)');
  if (!acl.trim()) throw badRequest('E_RULE_INVALID', 'the ACL is empty: give one (e.g. "path_beg -i /app"), or delete the rule to use the default ACL');
  return acl;
}

/** The id in the path: `/api/services//grp/app`, `/api/services/grp/app` and `/api/services/%2Fgrp%2Fapp` all name `/grp/app`. */
export function idFromPath(raw: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw badRequest('E_BAD_PATH', 'the service id in the path is not valid percent-encoding');
  }
  const id = normaliseRuleId(decoded);
  if (id === '/') throw badRequest('E_RULE_ID', 'the service id is empty');
  return id;
}

async function readServiceBody(ctx: RequestContext): Promise<ServiceBody> {
  requireJsonish(ctx.req);
  return parseServiceBody(parseJson(await readBody(ctx.req, RULE_BODY_LIMIT)));
}

/** Notes the rule as it is before the write, for the audit (the server writes it, refused or not). */
function noteBefore(core: CulmCore, ctx: RequestContext, id: string): void {
  const current = core.rules().get(id);
  ctx.audit.id = id;
  ctx.audit.before = current ? ruleToBamboo(current) : null;
}

async function store(core: CulmCore, ctx: RequestContext, id: string, body: ServiceBody): Promise<void> {
  noteBefore(core, ctx, id);
  // checkRule is pure: a bad rule is refused here, before the core (and its store) is touched.
  const rule = checkRule(makeRule(id, resolveAcl(body), body.config ?? {}));
  const stored = ruleToBamboo(await core.putRule(rule));
  ctx.audit.after = stored;
  sendJson(ctx.res, 200, stored);
}

export function serviceRoutes(core: CulmCore): Route[] {
  return [
    {
      name: '/api/services',
      path: '/api/services',
      audited: true,
      handlers: {
        GET: ({ res }) => {
          const all: Record<string, ReturnType<typeof ruleToBamboo>> = {};
          for (const rule of core.rules().values()) all[rule.id] = ruleToBamboo(rule);
          sendJson(res, 200, all);
        },
        POST: async (ctx) => {
          const body = await readServiceBody(ctx);
          if (body.id === undefined || !body.id.trim()) throw badRequest('E_RULE_ID', 'id is required');
          await store(core, ctx, body.id, body);
        },
      },
    },
    {
      name: '/api/services/{id}',
      path: /^\/api\/services\/(.+)$/,
      audited: true,
      handlers: {
        GET: ({ res, params }) => {
          const id = idFromPath(params[0]);
          const rule = core.rules().get(id);
          if (!rule) throw notFound(id);
          sendJson(res, 200, ruleToBamboo(rule));
        },
        PUT: async (ctx) => {
          const id = idFromPath(ctx.params[0]);
          const body = await readServiceBody(ctx);
          if (body.id !== undefined && body.id.trim() && normaliseRuleId(body.id) !== id) {
            throw badRequest('E_ID_CONFLICT', `the body names ${JSON.stringify(normaliseRuleId(body.id))} but the path names ${JSON.stringify(id)}`);
          }
          await store(core, ctx, id, body);
        },
        DELETE: async (ctx) => {
          const { res, params } = ctx;
          const id = idFromPath(params[0]);
          noteBefore(core, ctx, id);
          if (!(await core.deleteRule(id))) throw notFound(id);
          ctx.audit.after = null;
          // Bamboo answered an empty JSON object.
          sendJson(res, 200, {});
        },
      },
    },
  ];
}

function notFound(id: string): CulmError {
  return new CulmError('E_RULE_NOT_FOUND', `no rule for ${id}`, { status: 404 });
}
