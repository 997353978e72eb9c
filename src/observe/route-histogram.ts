// Histograms kept in plain typed arrays, one series per label set: observing is a bucket search
// and three additions with no allocation, so it can run on every delivery. prom-client's own
// Histogram hashes its labels and allocates on each observe; this one is read only at scrape time.
import type { Metric } from 'prom-client';

export class HistogramSeries {
  /** counts[i]: observations <= bounds[i]; the last slot counts the rest (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/** A histogram metric registered in a prom-client Registry, read there on each scrape. */
export class RouteHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  /** The series for these labels, made once; keep it and observe on it. */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const key = JSON.stringify(labels);
    let found = this.all.get(key);
    if (found === undefined) {
      found = new HistogramSeries(this.bounds, labels);
      this.all.set(key, found);
    }
    return found;
  }

  /** prom-client's metric shape: cumulative `_bucket` lines, then `_sum` and `_count`. */
  get(): {
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: MetricValue[];
  } {
    const values: MetricValue[] = [];
    for (const series of this.all.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += series.counts[i] as number;
        values.push({
          value: cumulative,
          labels: { ...series.labels, le: bound },
          metricName: `${this.name}_bucket`,
        });
      });
      values.push({
        value: series.count,
        labels: { ...series.labels, le: '+Inf' },
        metricName: `${this.name}_bucket`,
      });
      values.push({
        value: series.sum,
        labels: { ...series.labels },
        metricName: `${this.name}_sum`,
      });
      values.push({
        value: series.count,
        labels: { ...series.labels },
        metricName: `${this.name}_count`,
      });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  /** What Registry.registerMetric accepts: it only ever calls get() and reads name, help, type. */
  asMetric(): Metric {
    return this as unknown as Metric;
  }
}
