// What Marathon's scheduler does after a write route (writes.ts), run to its end at once: each change is one
// deployment (deployment_info, the step's task launches and kills, deployment_step_success, deployment_success)
// with the default upgrade strategy (minimumHealthCapacity 1, maximumOverCapacity 1: new tasks start before
// the old ones are killed) and killSelection YOUNGEST_FIRST. Tasks go where EmulatorOptions.launch says.
import type { DeploymentRef, MarathonEmulator } from '../marathon-emulator.js';
import type { App, AppSpec, Task } from './model.js';

/** The instances an app asks for: its definition's, else (an app a test built task by task) what it has. */
const wanted = (emu: MarathonEmulator, app: App): number => app.spec.instances ?? emu.tasksOf(app.id).length;

/** Launches or kills (youngest first) tasks until the app has `n`. */
function scaleTo(emu: MarathonEmulator, appId: string, n: number): void {
  const tasks = emu.tasksOf(appId);
  for (let i = tasks.length; i < n; i++) emu.launchTask(appId);
  for (const t of tasks.slice(n).reverse()) emu.killTask(t.id, { withKilling: true });
}

/** A rolling restart in one step: `n` tasks of the new version start, then every older task is killed. */
function replaceTasks(emu: MarathonEmulator, appId: string, n: number): void {
  const old = emu.tasksOf(appId);
  for (let i = 0; i < n; i++) emu.launchTask(appId);
  for (const t of old) emu.killTask(t.id, { withKilling: true });
}

/** POST /v2/apps: StartApplication (no task yet), then ScaleApplication to its instances (default 1). */
export function createApp(emu: MarathonEmulator, spec: AppSpec, uri: string): { app: App; deployment: DeploymentRef } {
  const original = emu.groupBefore();
  const app = emu.storeApp({ ...spec, instances: spec.instances ?? 1 }, uri);
  const deployment = emu.deploy(app.id, ['StartApplication', 'ScaleApplication'], original, (action) => {
    if (action === 'ScaleApplication') scaleTo(emu, app.id, wanted(emu, app));
  });
  return { app, deployment };
}

const withoutInstances = ({ instances: _instances, ...rest }: AppSpec): string => JSON.stringify(rest);

/**
 * PUT /v2/apps/{id} of an existing app with its new definition: a change of `instances` alone scales
 * (ScaleApplication; tasks keep their version), anything else restarts every task (RestartApplication).
 */
export function updateApp(emu: MarathonEmulator, spec: AppSpec, uri: string): DeploymentRef {
  const before = emu.app(spec.id);
  const scaleOnly = withoutInstances(before.spec) === withoutInstances(spec);
  const original = emu.groupBefore();
  const app = emu.storeApp(spec, uri);
  if (scaleOnly) {
    app.lastConfigChangeAt = before.lastConfigChangeAt;
    return emu.deploy(app.id, ['ScaleApplication'], original, () => scaleTo(emu, app.id, wanted(emu, app)));
  }
  return emu.deploy(app.id, ['RestartApplication'], original, () => replaceTasks(emu, app.id, wanted(emu, app)));
}

/** POST /v2/apps/{id}/restart: the same definition as a new version, every task replaced. */
export function restartApp(emu: MarathonEmulator, appId: string): DeploymentRef {
  const before = emu.app(appId);
  const n = wanted(emu, before);
  const original = emu.groupBefore();
  const app = emu.storeApp({ ...before.spec, instances: n });
  return emu.deploy(app.id, ['RestartApplication'], original, () => replaceTasks(emu, app.id, n));
}

/**
 * Kills tasks (TASK_KILLING, then TASK_KILLED). Without `scale` the apps still want their instances, so
 * Marathon launches a replacement for each (no deployment); with `scale` each app's instances drop by the
 * number killed, in a ScaleApplication deployment per app (Marathon makes one for all: the last is returned).
 */
export function killTasks(emu: MarathonEmulator, tasks: Task[], scale: boolean): DeploymentRef | undefined {
  const byApp = new Map<string, Task[]>();
  for (const t of tasks) byApp.set(t.appId, [...(byApp.get(t.appId) ?? []), t]);
  let deployment: DeploymentRef | undefined;
  for (const [appId, killed] of byApp) {
    if (!scale) {
      for (const t of killed) emu.killTask(t.id, { withKilling: true });
      for (let i = 0; i < killed.length; i++) emu.launchTask(appId);
      continue;
    }
    const before = emu.app(appId);
    const original = emu.groupBefore();
    const app = emu.storeApp({ ...before.spec, instances: Math.max(0, wanted(emu, before) - killed.length) });
    app.lastConfigChangeAt = before.lastConfigChangeAt;
    deployment = emu.deploy(app.id, ['ScaleApplication'], original, () => {
      for (const t of killed) emu.killTask(t.id, { withKilling: true });
    });
  }
  return deployment;
}
