import { useState } from 'preact/hooks';
import type { ThreadLogRow, ThreadView, WorkerView } from '../../core/wire/dashboard.js';
import { rpc } from '../api.js';
import { Action, ErrorLine } from '../components/Action.js';
import { StepCells } from '../components/StepCells.js';
import { formatDuration, sectorHref, time } from '../format.js';
import { usePoll } from '../poll.js';

/** A worker's threads with the columns of `util worker info`, and pause, resume, drain and each thread's log. */
export function Worker(props: { name: string }) {
  const { data, error, refresh } = usePoll<WorkerView>('SealFleet.DashboardWorker', [props.name]);
  const [logOf, setLogOf] = useState<number | null>(null);
  return (
    <section>
      <h2>Worker {props.name}</h2>
      <ErrorLine error={error} />
      {!data && !error && <p>Loading…</p>}
      {data && (
        <>
          <p>
            {data.Worker.Dest} · version {data.Worker.Version} · last ping {formatDuration(data.Worker.PingAgeMs)} ago
            {data.Worker.Expired && <strong> (expired)</strong>}{' '}
            <Action label="Drain all threads" testId="drain-all" after={refresh} run={async () => {
              const r = await rpc<{ Draining: number }>('SealFleet.WorkerDrain', [props.name, null]);
              return `${r.Draining} thread(s) finish their sector and take no new one`;
            }} />
          </p>
          <table data-testid="threads">
            <thead><tr><th>Index</th><th>Loc</th><th>Plan</th><th>SectorID</th><th>Paused</th><th>PausedElapsed</th><th>State</th><th>LastErr</th><th>Actions</th></tr></thead>
            <tbody>
              {data.Threads.map((t) => <ThreadRow key={t.index} worker={props.name} thread={t} refresh={refresh} showLog={() => setLogOf(logOf === t.index ? null : t.index)} />)}
            </tbody>
          </table>
          {logOf !== null && <ThreadLog worker={props.name} index={logOf} />}
        </>
      )}
    </section>
  );
}

function ThreadRow(props: { worker: string; thread: ThreadView; refresh: () => void; showLog: () => void }) {
  const t = props.thread;
  const [state, setState] = useState('');
  const isPaused = t.thread_state.state === 'Paused';
  return (
    <tr class={isPaused ? 'alert' : ''} data-testid={`thread-${t.index}`}>
      <td>{t.index}</td>
      <td>{t.location}</td>
      <td>{t.plan}</td>
      <td>{t.job_id ? <a href={sectorHref(t.job_id)}>{t.job_id}</a> : '-'}</td>
      <td data-testid={`thread-${t.index}-paused`}>{String(isPaused)}</td>
      <td>{isPaused ? formatDuration((t.thread_state.elapsed ?? 0) * 1000) : '-'}</td>
      <td data-testid={`thread-${t.index}-state`}>{t.job_state || '-'}</td>
      <td class="text">{t.last_error ?? '-'}</td>
      <td class="actions">
        <Action label="Pause" testId={`pause-${t.index}`} after={props.refresh} run={async () => {
          const r = await rpc<{ Requested: boolean }>('SealFleet.WorkerPause', [props.worker, t.index]);
          return r.Requested ? 'pause requested' : 'already paused';
        }} />
        <select aria-label={`resume state of thread ${t.index}`} data-testid={`resume-state-${t.index}`} value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
          <option value="">its current state</option>
          {t.ResumeStates.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <Action label="Resume" testId={`resume-${t.index}`} after={props.refresh} run={async () => {
          await rpc('SealFleet.WorkerResume', [props.worker, t.index, state === '' ? null : state]);
          return `resumed${state ? ` in ${state}` : ''}`;
        }} />
        <Action label="Drain" testId={`drain-${t.index}`} after={props.refresh} run={async () => {
          await rpc('SealFleet.WorkerDrain', [props.worker, t.index]);
          return 'finishes its sector, then takes no new one';
        }} />
        <button type="button" onClick={props.showLog} data-testid={`log-${t.index}`}>Log</button>
      </td>
    </tr>
  );
}

function ThreadLog(props: { worker: string; index: number }) {
  const { data, error } = usePoll<ThreadLogRow[]>('SealFleet.DashboardThreadLog', [props.worker, props.index, 200]);
  return (
    <div>
      <h3>Thread #{props.index}: its own log (latest 200 rows)</h3>
      <ErrorLine error={error} />
      {data && (
        <table data-testid="thread-log">
          <thead><tr><th>Time</th><th>Sector</th><th>From</th><th>Event</th><th>To</th><th>Took</th><th>In processors</th><th>Error</th></tr></thead>
          <tbody>
            {data.map((row, i) => (
              <tr key={i} class={row.level ? 'alert' : ''}>
                <td>{time(row.at)}</td>
                <td>{row.sector ? <a href={sectorHref(row.sector)}>{row.sector}</a> : '-'}</td>
                <StepCells row={row} />
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
