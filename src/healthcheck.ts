#!/usr/bin/env node
/**
 * The image's HEALTHCHECK: is this culm ready (`/readyz` 200: state synced, a config applied, HAProxy running
 * it)? Reads culm's configuration as culm does (CONFIG_PATH, environment; flags may be passed too), probes
 * the configured BIND, prints one line and exits 0 (healthy) or 1.
 */
import { loadConfig } from './config/index.js';
import { errorMessage } from './core/errors.js';
import { probeBase, probeReady } from './http/probe.js';

const TIMEOUT_MS = 2000;

async function healthcheck(): Promise<number> {
  let base: string;
  try {
    const config = loadConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() });
    base = probeBase(config.http.host, config.http.port);
  } catch (err) {
    process.stdout.write(`unhealthy: culm's configuration does not load: ${errorMessage(err)}\n`);
    return 1;
  }
  const result = await probeReady(base, TIMEOUT_MS);
  process.stdout.write(`${result.line}\n`);
  return result.ok ? 0 : 1;
}

void healthcheck().then((code) => process.exit(code));
