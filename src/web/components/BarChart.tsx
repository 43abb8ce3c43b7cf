import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/**
 * A bar chart drawn by uPlot on a canvas: `x` numeric positions (times in seconds for a time axis, or
 * indexes labelled by `labels`), one series of counts.
 */
export function BarChart(props: { title: string; x: number[]; y: number[]; labels?: string[]; time?: boolean; height?: number }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const labels = props.labels;
  const shape = JSON.stringify([props.time ?? false, labels ?? null]);

  useEffect(() => {
    if (!host.current) return;
    const opts: uPlot.Options = {
      title: props.title,
      width: Math.max(320, host.current.clientWidth || 640),
      height: props.height ?? 220,
      legend: { show: false },
      scales: { x: { time: props.time ?? false }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [
        labels ? { values: (_u, splits) => splits.map((s) => labels[s] ?? ''), splits: () => labels.map((_, i) => i), rotate: -35, size: 90 } : {},
        {},
      ],
      series: [{}, { label: 'count', fill: 'rgba(47, 111, 179, 0.5)', stroke: '#2f6fb3', paths: uPlot.paths.bars?.({ size: [0.7, 60] }), points: { show: false } }],
    };
    plot.current = new uPlot(opts, [props.x, props.y], host.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is rebuilt when its axes change; new data alone is handed to setData below.
  }, [shape, props.title]);

  useEffect(() => {
    plot.current?.setData([props.x, props.y]);
  }, [JSON.stringify([props.x, props.y])]);

  return <div class="chart" ref={host} />;
}
