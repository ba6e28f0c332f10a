/**
 * When HAProxy's first start may stand in for `haproxy -c` (driver.ts `nothingServes`): HAProxy parses the
 * whole config before it binds anything and exits 1 on an error, exactly what the check reports, so while no
 * HAProxy serves there is nothing a bad config could take down. Only with culm's own reload command (an
 * operator's might restart a serving HAProxy) and HAProxy's plain check (an operator's may check more), and
 * only while nothing the check's limits guard against can be in the config: no rule may load pattern files
 * (HAProxy.AclFilesDir empty), no raw label lines are written (HAProxy.TrustLabelConfig off) and no
 * certificate is loaded (HAProxy.SslCerts empty, which also turns app certificates off): a file HAProxy loads
 * beside a certificate (`.key`, `.ocsp`, `.sctl`) can stall its load, and only the check's limits and the
 * applier's search of the certificates it stalls on bound that (an unchecked start would cost a timeout more).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { CulmConfig } from '../config/index.js';
import { defaultReloadCommand } from '../config/derived.js';
import { processExists } from './driver.js';
import { haproxyProcessesOf } from './stop.js';

/** HAProxy's check as culm runs it by default (also with `-q`). */
export const PLAIN_CHECK = /^haproxy\s+-c\s+(-q\s+)?-f\s+\{\{\.\}\}$/;

export function firstStartUnchecked(config: CulmConfig): boolean {
  const h = config.haproxy;
  return PLAIN_CHECK.test(h.validationCommand.trim())
    && h.reloadCommand === defaultReloadCommand(h.outputPath, h.pidPath, h.statsSocketPath)
    && h.aclFilesDir === '' && !h.trustLabelConfig && h.sslCerts.length === 0;
}

/**
 * No HAProxy runs this config: no live process in the pid file, none whose command line names the output
 * (Linux /proc). Without /proc it cannot be told: false.
 */
export function nothingServes(pidPath: string, outputPath: string): boolean {
  if (!existsSync('/proc/self/cmdline')) return false;
  let pids: number[] = [];
  try {
    pids = readFileSync(pidPath, 'utf8').split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
  } catch {
    /* no pid file: no process started from it */
  }
  return !pids.some((pid) => processExists(pid)) && haproxyProcessesOf(outputPath).length === 0;
}
