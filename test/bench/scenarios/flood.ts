/** Scenario "flood": the REST port under 2 × 10,000 silent connections, slowloris, slow bodies and forged posts. */
import { floodScenario } from '../../helpers/flood.js';

export function flood(idle: number): Promise<Record<string, unknown>> {
  // CULM_FLOOD_NICE=false runs the attackers at culm's priority (they then share its 2 cores here).
  const niceAttackers = process.env.CULM_FLOOD_NICE !== 'false';
  return floodScenario({ attackers: 2, idle, slowHeaders: 200, slow: 200, posts: 4, tasks: 40, floodMs: 20_000, niceAttackers })
    .then((r) => ({ ...r, idlePerAttacker: idle, niceAttackers }));
}
