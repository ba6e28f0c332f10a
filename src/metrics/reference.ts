/**
 * The README's list of metrics, read from the registry a running culm exposes (so a metric added to
 * metrics.ts shows up there, or the README test fails): culm's own metrics as a table, Node's defaults by name.
 */
import { PrometheusMetrics } from './metrics.js';

interface Described {
  name: string;
  help: string;
  type: string;
  labelNames?: readonly string[];
}

const described = (m: PrometheusMetrics): Described[] =>
  (m.registry.getMetricsAsArray() as unknown as Described[]).slice().sort((a, b) => a.name.localeCompare(b.name));

export function metricsMarkdown(): string {
  const own = described(new PrometheusMetrics({ defaultMetrics: false }));
  const ownNames = new Set(own.map((m) => m.name));
  const defaults = described(new PrometheusMetrics()).filter((m) => !ownNames.has(m.name));
  const rows = own.map((m) => {
    const labels = (m.labelNames ?? []).map((l) => `\`${l}\``).join(', ');
    return `| \`${m.name}\` | ${m.type} | ${labels} | ${m.help.replaceAll('|', '\\|')} |`;
  });
  return [
    '| metric | type | labels | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Node's process metrics (prom-client's defaults, prefixed): ${defaults.map((m) => `\`${m.name}\``).join(', ')}.`,
  ].join('\n');
}
