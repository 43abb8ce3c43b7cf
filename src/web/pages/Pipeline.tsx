import type { Pipeline as PipelineData } from '../../core/wire/dashboard.js';
import { ErrorLine } from '../components/Action.js';
import { BarChart } from '../components/BarChart.js';
import { formatDuration } from '../format.js';
import { usePoll } from '../poll.js';

export function Pipeline() {
  const { data, error } = usePoll<PipelineData>('SealFleet.DashboardPipeline', []);
  if (!data) return <section><h2>Pipeline</h2><ErrorLine error={error} />{!error && <p>Loading…</p>}</section>;
  const plans = [...new Set(data.ByState.map((s) => s.Plan))].sort();
  return (
    <section>
      <h2>Pipeline</h2>
      <ErrorLine error={error} />
      {plans.length === 0 && <p class="calm">No sectors yet.</p>}
      {plans.map((plan) => {
        const rows = data.ByState.filter((s) => s.Plan === plan).sort((a, b) => a.State.localeCompare(b.State));
        return (
          <div key={plan} class="plan">
            <h3>Plan {plan}: sectors by the state their worker last reported</h3>
            <table data-testid={`states-${plan}`}>
              <thead><tr><th>State</th><th>Sectors</th></tr></thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.State}><td>{r.State}</td><td data-testid={`state-${plan}-${r.State}`}>{r.Count}</td></tr>
                ))}
              </tbody>
            </table>
            <BarChart title={`${plan}: sectors per state`} x={rows.map((_, i) => i)} y={rows.map((r) => r.Count)} labels={rows.map((r) => r.State)} />
            <p class="stages">
              Manager stages: {data.ByStage.filter((s) => s.Plan === plan).map((s) => `${s.Stage} ${s.Count}`).join(' · ')}
            </p>
          </div>
        );
      })}

      <h3>How long sectors stay in each state</h3>
      <p class="hint">Completed stays in the latest sector events: from the worker's report of a state to its next report.</p>
      <table data-testid="durations">
        <thead><tr><th>State</th><th>Stays</th><th>p50</th><th>p90</th><th>max</th><th>Distribution</th></tr></thead>
        <tbody>
          {data.Durations.map((d) => (
            <tr key={d.State}>
              <td>{d.State}</td>
              <td>{d.Count}</td>
              <td>{formatDuration(d.P50Ms)}</td>
              <td>{formatDuration(d.P90Ms)}</td>
              <td>{formatDuration(d.MaxMs)}</td>
              <td class="text">{d.Buckets.filter((b) => b.Count > 0).map((b) => `≤${formatDuration(b.LeMs)}: ${b.Count}`).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data.Durations.length > 0 && (
        <BarChart title="p90 stay per state (seconds)" x={data.Durations.map((_, i) => i)} y={data.Durations.map((d) => d.P90Ms / 1000)} labels={data.Durations.map((d) => d.State)} />
      )}
    </section>
  );
}
