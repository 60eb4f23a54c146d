import { Counter, Gauge, type LabelValues, type Registry } from 'prom-client';

/** One sample of a scraped metric: its labels and value. */
export type Row<L extends string> = [labels: LabelValues<L>, value: number];

/**
 * Registers a metric whose samples are read from the running objects at each scrape (the data
 * plane keeps plain counters; label lookups happen only here).
 */
export function scrapedMetric<L extends string>(registry: Registry, name: string, help: string, kind: 'counter' | 'gauge', labelNames: L[], rows: () => Iterable<Row<L>>): void {
  const Metric = kind === 'counter' ? Counter : Gauge;
  new Metric<L>({
    name, help, labelNames, registers: [registry],
    collect(this: Counter<L> | Gauge<L>) {
      this.reset();
      for (const [labels, v] of rows()) {
        if (this instanceof Counter) this.inc(labels, v);
        else this.set(labels, v);
      }
    },
  });
}
