/** `GET /api/apps/{id}`: one app's routes, tasks, HAProxy's live view of its servers and its backends' config (app-detail.ts). */
import type { CulmCore } from '../../pipeline/types.js';
import { appDetail } from '../app-detail.js';
import { sendJson } from '../io.js';
import type { Route } from '../router.js';
import { idFromPath } from './services.js';

export function appRoutes(core: CulmCore): Route[] {
  return [{
    name: '/api/apps/{id}',
    path: /^\/api\/apps\/(.+)$/,
    handlers: { GET: async ({ res, params }) => sendJson(res, 200, await appDetail(core, idFromPath(params[0]))) },
  }];
}
