/**
 * A labelled histogram for the request hot path: an observation is two map lookups and a few additions.
 * prom-client's Histogram validates and hashes the labels and builds a closure on every observe (a couple of
 * microseconds; at 20,000 callbacks a second, several percent of a core). This one registers in a prom-client
 * Registry like any metric (registerMetric + get()), so the exposition text is prom-client's own.
 */
import type { Metric, Registry } from 'prom-client';

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative); the last slot is +Inf only. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

export interface FastHistogramOptions {
  name: string;
  help: string;
  /** observe() takes the values of these labels, in this order. */
  labelNames: readonly string[];
  buckets: readonly number[];
  registers: Registry[];
}

export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  private readonly bounds: readonly number[];
  /** Series by the label values joined with NUL (never part of a label value culm uses). */
  private series = new Map<string, Series>();

  constructor(o: FastHistogramOptions) {
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames;
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    for (const registry of o.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** `values` in the order of `labelNames`. Non-finite values are ignored. */
  observe(values: readonly string[], value: number): void {
    if (!Number.isFinite(value)) return;
    const key = values.length === 1 ? values[0] : values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => { labels[name] = values[i]; });
      s = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** What prom-client's Histogram.get() gives: cumulative buckets with `le` first, then _sum and _count. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i];
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push(
        { labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` },
        { labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` },
        { labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series = new Map();
  }
}
