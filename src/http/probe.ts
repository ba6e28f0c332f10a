/**
 * Where a probe on the same host reaches culm's REST API, from the bind address it listens on: every interface
 * (`:8000`, `0.0.0.0`, `*`) is reached on 127.0.0.1, `[::]` on ::1, a specific address or name on itself.
 */
import { isIP } from 'node:net';

export function probeBase(host: string, port: number): string {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === '' || h === '0.0.0.0' || h === '*') return `http://127.0.0.1:${port}`;
  if (h === '::') return `http://[::1]:${port}`;
  return isIP(h) === 6 ? `http://[${h}]:${port}` : `http://${h}:${port}`;
}

export interface ProbeResult {
  ok: boolean;
  /** One line saying why. */
  line: string;
}

/** GET `<base>/readyz` within `timeoutMs`: ok on 200; the line names the checks that are not ok. */
export async function probeReady(base: string, timeoutMs: number): Promise<ProbeResult> {
  let res: Response;
  try {
    res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return { ok: false, line: `unhealthy: ${base}/readyz did not answer (${cause})` };
  }
  const text = await res.text().catch(() => '');
  if (res.status === 200) return { ok: true, line: `healthy: ${base}/readyz 200` };
  let why = text.slice(0, 200);
  try {
    const body = JSON.parse(text) as { checks?: Record<string, { ok: boolean; detail?: string }> };
    const failing = Object.entries(body.checks ?? {}).filter(([, c]) => !c.ok).map(([k, c]) => `${k}: ${c.detail ?? 'not ok'}`);
    if (failing.length > 0) why = failing.join('; ');
  } catch {
    /* not JSON: the start of the body */
  }
  return { ok: false, line: `unhealthy: ${base}/readyz ${res.status}: ${why.replace(/\s+/g, ' ')}` };
}
