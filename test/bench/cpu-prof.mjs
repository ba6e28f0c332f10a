/**
 * Loaded into culm with NODE_OPTIONS=--import (where --cpu-prof is not allowed) by `run.ts --cpu-prof DIR`:
 * profiles the process and writes DIR/culm-<pid>-<phase>.cpuprofile. SIGUSR2 ends the current phase (its
 * profile is written) and starts the next one, named by the text of DIR/phase-<pid>; the last phase is
 * written at exit. Summarise a profile with `npx tsx test/bench/profile-top.ts FILE`.
 */
import { Session } from 'node:inspector';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.CULM_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let phase = 'start';
  const start = () => {
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 200 });
    session.post('Profiler.start');
  };
  // A same-thread inspector session answers synchronously, so this also works in an exit handler.
  const stop = () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `culm-${process.pid}-${phase}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  start();
  process.on('SIGUSR2', () => {
    stop();
    try {
      phase = readFileSync(join(dir, `phase-${process.pid}`), 'utf8').trim() || 'next';
    } catch {
      phase = 'next';
    }
    start();
  });
  process.on('exit', stop);
}
