/** Scenario "flood": the REST port under 2 × 10,000 silent connections, slowloris, slow bodies and forged posts. */
import { floodScenario } from '../../helpers/flood.js';

export function flood(idle: number): Promise<Record<string, unknown>> {
  return floodScenario({ attackers: 2, idle, slowHeaders: 200, slow: 200, posts: 4, tasks: 40, floodMs: 20_000 })
    .then((r) => ({ ...r, idlePerAttacker: idle }));
}
