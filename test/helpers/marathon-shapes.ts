/**
 * Apps as Marathon serves them in its three shapes of service ports (1.4 `ports`, 1.5+ `portDefinitions`,
 * Docker `portMappings`), through the real mapping, view and a template: for tests of labels → config lines.
 */
import { mapApps } from '../../src/core/marathon-map.js';
import { buildView, type HaproxyPaths, type ViewOptions } from '../../src/core/view.js';
import { applySnapshot } from '../../src/core/state.js';
import { emptyState, type Rule } from '../../src/core/model.js';
import type { Renderer } from '../../src/haproxy/render.js';

export type Shape = '1.4' | '1.5' | '1.5-mappings';
export const SHAPES: readonly Shape[] = ['1.4', '1.5', '1.5-mappings'];

export interface AppSpec { id: string; ports: number[]; labels?: Record<string, string>; env?: Record<string, string>; tasks?: number }

/** An app as Marathon's GET /v2/apps?embed=apps.tasks gives it; task k listens on 31000 + 100k + n for port n. */
export function marathonApp(a: AppSpec, shape: Shape): Record<string, unknown> {
  const tasks = Array.from({ length: a.tasks ?? 1 }, (_, k) => ({
    id: `${a.id.slice(1)}.t${k}`, host: '127.0.0.1', ports: a.ports.map((_, n) => 31000 + 100 * k + n), state: 'TASK_RUNNING', startedAt: '2026-12-01T00:00:00Z',
  }));
  const app: Record<string, unknown> = { id: a.id, instances: tasks.length, labels: a.labels ?? {}, env: a.env ?? {}, healthChecks: [], tasks };
  if (shape === '1.4') app.ports = a.ports;
  else if (shape === '1.5') app.portDefinitions = a.ports.map((port) => ({ port, protocol: 'tcp' }));
  else app.container = { type: 'DOCKER', portMappings: a.ports.map((servicePort, n) => ({ containerPort: 8080 + n, hostPort: 0, servicePort })) };
  return app;
}

/** The view and config of these apps in `shape`, and what the mapping refused. */
export function renderShape(renderer: Renderer, specs: AppSpec[], shape: Shape, paths: HaproxyPaths, opts: { rules?: Rule[]; view?: ViewOptions } = {}) {
  // As culm does: the labels only a service port's own frontend reads are checked only when such frontends are bound.
  const mapped = mapApps({ apps: specs.map((s) => marathonApp(s, shape)) }, paths.ServeGroups?.servicePortBind !== undefined);
  const state = applySnapshot(emptyState(), mapped.apps, 1);
  const view = buildView(state, new Map((opts.rules ?? []).map((r) => [r.id, r])), paths, opts.view);
  return { view, text: renderer.render(view), rejected: mapped.rejected };
}

/** One section's text (`frontend x` or `backend x`), '' when absent. */
export const section = (text: string, header: string): string => {
  const start = text.indexOf(`\n${header}\n`);
  if (start < 0) return '';
  const next = text.slice(start + 1).search(/\n(frontend|backend|userlist) /);
  return text.slice(start + 1, next < 0 ? undefined : start + 1 + next);
};
