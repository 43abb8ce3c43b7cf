import type { AttentionItem, Overview as OverviewData } from '../../core/wire/dashboard.js';
import { ErrorLine } from '../components/Action.js';
import { BarChart } from '../components/BarChart.js';
import { ago, formatDuration, sectorHref, workerHref } from '../format.js';
import { usePoll } from '../poll.js';

const KIND_LABEL: Record<AttentionItem['Kind'], string> = {
  'paused-thread': 'paused thread',
  'slow-sector': 'slow sector',
  'expired-ping': 'ping expired',
  'ticket-expiring': 'ticket expiring',
  'worker-unreachable': 'worker unreachable',
};

export function Overview() {
  const { data, error } = usePoll<OverviewData>('SealFleet.DashboardOverview', []);
  if (!data) return <section><h2>Overview</h2><ErrorLine error={error} />{!error && <p>Loading…</p>}</section>;
  const t = data.Threads;
  return (
    <section>
      <h2>Overview</h2>
      <ErrorLine error={error} />
      <div class="cards">
        <Card label="sealing" value={data.Sectors.sealing} />
        <Card label="finalized" value={data.Sectors.finalized} />
        <Card label="aborted" value={data.Sectors.aborted} />
        <Card label="threads" value={t.Threads} />
        <Card label="running" value={t.Running} />
        <Card label="waiting" value={t.Waiting} />
        <Card label="idle" value={t.Empty} />
        <Card label="paused" value={t.Paused} alert={t.Paused > 0} />
        <Card label="with errors" value={t.Errors} alert={t.Errors > 0} />
      </div>

      <h3>Needs attention</h3>
      {data.Attention.length === 0 ? (
        <p class="calm" data-testid="attention-none">Nothing needs attention.</p>
      ) : (
        <table data-testid="attention">
          <thead><tr><th>What</th><th>Where</th><th>Since</th><th>Detail</th></tr></thead>
          <tbody>
            {data.Attention.map((a, i) => (
              <tr key={i} class="alert">
                <td>{KIND_LABEL[a.Kind]}</td>
                <td>
                  {a.Worker && <a href={workerHref(a.Worker)}>{a.Worker}</a>}
                  {a.Thread !== null && ` #${a.Thread}`} {a.Sector && <a href={sectorHref(a.Sector)}>{a.Sector}</a>}
                </td>
                <td>{a.Since === null ? '-' : ago(a.Since, data.Now)}</td>
                <td>{a.Text}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Workers</h3>
      <table data-testid="workers">
        <thead><tr><th>Name</th><th>Dest</th><th>Version</th><th>Threads</th><th>Running</th><th>Waiting</th><th>Idle</th><th>Paused</th><th>Errors</th><th>Last ping</th></tr></thead>
        <tbody>
          {data.Workers.map((w) => (
            <tr key={w.Name} class={w.Expired ? 'alert' : ''}>
              <td><a href={workerHref(w.Name)}>{w.Name}</a></td>
              <td>{w.Dest}</td>
              <td>{w.Version}</td>
              <td>{w.Summary.Threads}</td>
              <td>{w.Summary.Running}</td>
              <td>{w.Summary.Waiting}</td>
              <td>{w.Summary.Empty}</td>
              <td>{w.Summary.Paused}</td>
              <td>{w.Summary.Errors}</td>
              <td>{formatDuration(w.PingAgeMs)} ago{w.Expired && <strong> (expired)</strong>}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>Paused and failing threads</h3>
      {data.Troubled.length === 0 ? (
        <p class="calm">None.</p>
      ) : (
        <table data-testid="troubled">
          <thead><tr><th>Worker</th><th>Thread</th><th>Plan</th><th>Sector</th><th>State</th><th>Paused</th><th>Last error</th></tr></thead>
          <tbody>
            {data.Troubled.map((x) => (
              <tr key={`${x.Worker}#${x.Index}`}>
                <td><a href={workerHref(x.Worker)}>{x.Worker}</a></td>
                <td>#{x.Index}</td>
                <td>{x.Plan}</td>
                <td>{x.Sector ? <a href={sectorHref(x.Sector)}>{x.Sector}</a> : '-'}</td>
                <td>{x.State || '-'}</td>
                <td>{x.Paused ? 'yes' : 'no'}</td>
                <td class="text">{x.LastError ?? '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Sectors finished per hour (last 24 h)</h3>
      <BarChart title="" time x={data.FinishedPerHour.map((h) => h.Hour / 1000)} y={data.FinishedPerHour.map((h) => h.Count)} />
    </section>
  );
}

const Card = (props: { label: string; value: number; alert?: boolean }) => (
  <div class={props.alert ? 'card alert' : 'card'} data-testid={`card-${props.label.replace(/ /g, '-')}`}>
    <div class="value">{props.value}</div>
    <div class="label">{props.label}</div>
  </div>
);
