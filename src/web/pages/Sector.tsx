import { useState } from 'preact/hooks';
import { parseSectorId } from '../../core/sectorId.js';
import type { SectorView } from '../../core/wire/dashboard.js';
import { rpc } from '../api.js';
import { Action, ErrorLine } from '../components/Action.js';
import { StepCells } from '../components/StepCells.js';
import { ago, formatDuration, time, workerHref } from '../format.js';
import { usePoll } from '../poll.js';

export function Sector(props: { id: string }) {
  let id: { Miner: number; Number: number };
  try {
    const parsed = parseSectorId(props.id);
    id = { Miner: parsed.miner, Number: parsed.number };
  } catch (err) {
    return <section><h2>Sector</h2><ErrorLine error={(err as Error).message} /></section>;
  }
  return <SectorPage id={id} name={props.id} />;
}

function SectorPage(props: { id: { Miner: number; Number: number }; name: string }) {
  const { data, error, refresh } = usePoll<SectorView>('SealFleet.DashboardSector', [props.id]);
  const [reason, setReason] = useState('aborted from the dashboard');
  if (!data) return <section><h2>Sector {props.name}</h2><ErrorLine error={error} />{!error && <p>Loading…</p>}</section>;
  const r = data.Record;
  const c = data.Chain;
  const fields: [string, string][] = [
    ['Status', r.Status], ['Plan', r.Plan], ['Stage', r.Stage], ['State', r.State ?? '-'], ['Worker', r.Worker ?? '-'], ['Location', r.Location ?? '-'],
    ['Proof type', String(r.ProofType)], ['Pre-commit message', r.PreCommitMessage ?? '-'], ['Prove message', r.ProveMessage ?? '-'],
    ['Update message', r.UpgradeMessage ?? '-'], ['Persisted in', r.PersistInstance ?? '-'], ['Created', `${time(r.CreatedAt)} (${ago(r.CreatedAt)})`],
    ['Updated', `${time(r.UpdatedAt)} (${ago(r.UpdatedAt)})`], ['Abort requested', r.AbortRequested ?? '-'], ['Abort reason', r.AbortReason ?? '-'],
  ];
  const chain: [string, string][] = c.Error
    ? [['Error', c.Error]]
    : [
        ['Head', String(c.Head ?? '-')],
        ['Pre-commit', c.PreCommit ? `epoch ${c.PreCommit.PreCommitEpoch}, ticket epoch ${c.PreCommit.SealRandEpoch}, deposit ${c.PreCommit.Deposit}` : 'none'],
        ['Pre-commit SealedCID', c.PreCommit?.SealedCID ?? '-'],
        ['Sector', c.Sector ? `active from epoch ${c.Sector.Activation} to ${c.Sector.Expiration}` : 'not on chain'],
        ['SealedCID', c.Sector?.SealedCID ?? '-'],
        ['SectorKeyCID', c.Sector ? (c.Sector.SectorKeyCID ?? 'none (never updated)') : '-'],
      ];
  return (
    <section>
      <h2>Sector {r.Sector}</h2>
      <ErrorLine error={error} />
      <div class="columns">
        <div>
          <h3>The manager's record</h3>
          <table class="fields" data-testid="record"><tbody>{fields.map(([k, v]) => <tr key={k}><th>{k}</th><td>{v}</td></tr>)}</tbody></table>
        </div>
        <div>
          <h3>What the chain says</h3>
          <table class="fields" data-testid="chain"><tbody>{chain.map(([k, v]) => <tr key={k}><th>{k}</th><td>{v}</td></tr>)}</tbody></table>
          <h3>Where it is</h3>
          {data.Thread ? (
            <p>
              Thread #{data.Thread.Index} of <a href={workerHref(data.Thread.Worker)}>{data.Thread.Worker}</a>
              {data.Thread.Paused ? ' (paused: resume it on the worker page)' : ''}
            </p>
          ) : (
            <p>{data.WorkerError ?? (r.Worker ? `no thread of ${r.Worker} holds it now` : 'no worker has reported it')}</p>
          )}
          <h3>Actions</h3>
          {data.Actions.length === 0 && <p class="calm">None: the sector is {r.Status}{r.Stage !== r.Status ? ` (${r.Stage})` : ''}.</p>}
          {data.Actions.includes('abort') && (
            <p>
              <input aria-label="abort reason" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />{' '}
              <Action label="Abort" testId="abort" after={refresh} run={async () => {
                await rpc('SealFleet.SectorAbort', [props.id, reason]);
                return `abort requested: ${r.Worker ? `${r.Worker} drops it at its next report` : 'no worker holds it yet'}`;
              }} />
            </p>
          )}
          {data.Actions.includes('rebuild') && (
            <p><Action label="Queue a rebuild" testId="rebuild" after={refresh} run={async () => {
              await rpc('SealFleet.SectorRebuild', [props.id]);
              return 'queued for a rebuild worker';
            }} /></p>
          )}
        </div>
      </div>

      <h3>Event history</h3>
      <table data-testid="events">
        <thead><tr><th>Time</th><th>Took</th><th>By</th><th>From</th><th>Event</th><th>To</th><th>Failure</th></tr></thead>
        <tbody>
          {data.Events.map((e, i) => (
            <tr key={i} class={e.FailureLevel ? 'alert' : ''}>
              <td>{time(e.At)}</td>
              <td>{e.TookMs === null ? '-' : formatDuration(e.TookMs)}</td>
              <td>{e.Worker ?? '-'}</td>
              <td>{e.Prev ?? '-'}</td>
              <td>{e.Event ?? '-'}</td>
              <td>{e.Next ?? '-'}</td>
              <td class="text">{e.FailureLevel ? `${e.FailureLevel}: ${e.FailureDesc ?? ''}` : (e.FailureDesc ?? '-')}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>Steps on the worker (time in step and in processors)</h3>
      {data.ThreadLog.length === 0 ? (
        <p class="calm">{data.WorkerError ?? 'The worker keeps no log rows for this sector.'}</p>
      ) : (
        <table data-testid="steps">
          <thead><tr><th>Time</th><th>From</th><th>Event</th><th>To</th><th>Step took</th><th>In processors</th><th>Error</th></tr></thead>
          <tbody>
            {data.ThreadLog.map((s, i) => (
              <tr key={i} class={s.level ? 'alert' : ''}>
                <td>{time(s.at)}</td>
                <StepCells row={s} />
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
