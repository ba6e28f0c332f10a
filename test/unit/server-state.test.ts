/** statesStillTrue: what a restarted HAProxy may load of the state saved at the last reload (server-state.ts). */
import t from 'tap';
import { statesStillTrue } from '../../src/haproxy/server-state.js';

const cfg = (servers: string[], extra = ''): string =>
  ['global', 'defaults', '    mode http', `frontend in${extra}`, 'backend web', ...servers.map((s) => `    server ${s}`), 'backend api', '    server x 10.0.0.9:80', ''].join('\n');
const STATE = ['1', '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state',
  '3 web 1 a 10.0.0.1 0 1', '3 web 2 b 10.0.0.2 2 0', '4 api 1 x 10.0.0.9 2 0', ''].join('\n');

const cases: Array<{ desc: string; reloaded: string; current: string; want: string | null }> = [
  { desc: 'nothing changed since: all kept', reloaded: cfg(['a 10.0.0.1:80', 'b 10.0.0.2:80']), current: cfg(['a 10.0.0.1:80', 'b 10.0.0.2:80']), want: STATE },
  { desc: 'a removed since: kept (HAProxy ignores a server the config lacks)', reloaded: cfg(['a 10.0.0.1:80', 'b 10.0.0.2:80']), current: cfg(['b 10.0.0.2:80']), want: STATE },
  { desc: 'a added since (it was not in the reloaded config): its line dropped', reloaded: cfg(['b 10.0.0.2:80']), current: cfg(['a 10.0.0.1:80', 'b 10.0.0.2:80']),
    want: STATE.replace('3 web 1 a 10.0.0.1 0 1\n', '') },
  { desc: 'b re-addressed since: its line dropped', reloaded: cfg(['a 10.0.0.1:80', 'b 10.0.0.2:80']), current: cfg(['a 10.0.0.1:80', 'b 10.0.0.3:80']),
    want: STATE.replace('3 web 2 b 10.0.0.2 2 0\n', '') },
  { desc: 'a rule applied through the runtime map since (the map file renamed): all kept',
    reloaded: cfg(['a 10.0.0.1:80', 'b 10.0.0.2:80'], '\n    use_backend %[path,lower,map_beg(/d/haproxy.cfg.routes-0123456789abcdef.map)]'),
    current: cfg(['a 10.0.0.1:80', 'b 10.0.0.2:80'], '\n    use_backend %[path,lower,map_beg(/d/haproxy.cfg.routes-fedcba9876543210.map)]'), want: STATE },
  { desc: 'the configs differ by more than servers: none', reloaded: cfg(['a 10.0.0.1:80']), current: cfg(['a 10.0.0.1:80'], ' # other'), want: null },
];

for (const c of cases) t.test(c.desc, async (t) => t.equal(statesStillTrue(STATE, c.reloaded, c.current), c.want));
