import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

type Outcome = { ok: true; text: string } | { ok: false; text: string } | null;

/**
 * A button that calls the API and shows what came back: the result, or the manager's refusal word for word
 * (a read token's "missing permission … (need 'admin')" included), so no action fails silently.
 */
export function Action(props: { label: ComponentChildren; run: () => Promise<string>; after?: () => void; testId?: string; disabled?: boolean }) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const click = async () => {
    setBusy(true);
    setOutcome(null);
    try {
      setOutcome({ ok: true, text: await props.run() });
    } catch (err) {
      setOutcome({ ok: false, text: (err as Error).message });
    } finally {
      setBusy(false);
      props.after?.();
    }
  };
  return (
    <span class="action">
      <button type="button" disabled={busy || props.disabled} onClick={() => void click()} data-testid={props.testId}>
        {props.label}
      </button>
      {outcome && (
        <span class={outcome.ok ? 'result ok' : 'result error'} role="status" data-testid={props.testId ? `${props.testId}-result` : undefined}>
          {outcome.text}
        </span>
      )}
    </span>
  );
}

export const ErrorLine = (props: { error: string | null }) => (props.error ? <p class="error" role="alert">{props.error}</p> : null);
