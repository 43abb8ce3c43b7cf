import { createHash, timingSafeEqual } from 'node:crypto';
import { RPC_CODES, RpcError } from '../core/rpc/errors.js';
import type { Caller } from '../core/rpc/server.js';
import { TOKEN_MAX_LENGTH, type TokenGrant } from '../core/wire/tokenGrant.js';

/** Asks the manager what a token grants (`SealFleet.AuthVerify` with the worker's own token). */
export type ManagerTokenCheck = (token: string) => Promise<TokenGrant>;

export interface ControlAuthOptions {
  /** This worker's name: a control token for it may pause, resume and drain. */
  name: string;
  /** `rpc_server.token`: the worker's own admin token, good without the manager. */
  localToken: string | null;
  /** Absent: only `localToken` is accepted (a worker without a manager to ask, in tests). */
  checkWithManager?: ManagerTokenCheck;
  /** How long a token the manager accepted is trusted without asking again (never past its expiry). */
  acceptedMs?: number;
  /** How long a token the manager refused is refused without asking again. */
  refusedMs?: number;
  /** Most tokens remembered; the oldest is forgotten first. */
  capacity?: number;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Three base64url parts: what every JWT looks like. Anything else is refused without asking the manager. */
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/;

interface Verdict {
  /** ms since the epoch; Infinity while the manager is being asked. */
  until: number;
  caller: Promise<Caller>;
}

/**
 * Who may call a worker's control API that is not open to all (see README "Remote worker control"): the
 * worker's own `rpc_server.token` (admin), or a token of its manager, checked through the manager so no
 * operator copies a token per worker. A manager admin token, or a control token naming this worker, may
 * pause, resume and drain; any other manager token may only read (a worker's own write token must not
 * steer another worker's threads).
 *
 * Verdicts are remembered by the token's digest (never the token), so a CLI command, or a flood of the same
 * bad token, costs the manager one call; concurrent callers with one token share one call. A manager that
 * could not be asked leaves no verdict: the next call asks again.
 */
export class ControlAuth {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly local: Buffer | null;
  private readonly acceptedMs: number;
  private readonly refusedMs: number;
  private readonly capacity: number;

  constructor(private readonly options: ControlAuthOptions) {
    this.local = options.localToken === null ? null : digest(options.localToken);
    this.acceptedMs = options.acceptedMs ?? 30_000;
    this.refusedMs = options.refusedMs ?? 5_000;
    this.capacity = options.capacity ?? 1024;
  }

  readonly authorize = async (token: string | undefined): Promise<Caller> => {
    if (token === undefined || token === '') {
      throw new Error(
        "this worker's control API requires a bearer token: its rpc_server.token, or a token of its manager (sealfleet-manager util worker … sends one)",
      );
    }
    const key = digest(token);
    // Equal-length digests compare in constant time: the local token cannot be found byte by byte.
    if (this.local !== null && timingSafeEqual(key, this.local)) return { perm: 'admin', credential: 'rpc_server.token', worker: null };
    const check = this.options.checkWithManager;
    if (!check) throw new Error('wrong token: this worker takes its rpc_server.token only');
    if (token.length > TOKEN_MAX_LENGTH || !JWT_SHAPE.test(token)) {
      throw new Error("wrong token: neither this worker's rpc_server.token nor a token of its manager");
    }
    const id = key.toString('hex');
    const known = this.verdicts.get(id);
    if (known && known.until > Date.now()) return known.caller;
    const asked = this.ask(check, token, id.slice(0, 16));
    const verdict: Verdict = { until: Infinity, caller: asked.then((a) => a.caller) };
    this.remember(id, verdict);
    asked.then(
      ({ expiresAt }) => {
        verdict.until = Math.min(Date.now() + this.acceptedMs, expiresAt ?? Infinity);
      },
      (err: unknown) => {
        if (err instanceof RefusedByManager) verdict.until = Date.now() + this.refusedMs;
        else if (this.verdicts.get(id) === verdict) this.verdicts.delete(id);
      },
    );
    return verdict.caller;
  };

  /** How many verdicts are remembered (bounded by `capacity`). */
  get remembered(): number {
    return this.verdicts.size;
  }

  private async ask(check: ManagerTokenCheck, token: string, fingerprint: string): Promise<{ caller: Caller; expiresAt: number | null }> {
    let grant: TokenGrant;
    try {
      grant = await check(token);
    } catch (err) {
      throw this.refusal(err);
    }
    const perm = grant.Perm === 'admin' || grant.Control === this.options.name ? 'admin' : 'read';
    return { caller: { perm, credential: `manager token ${fingerprint}`, worker: grant.Worker }, expiresAt: grant.Expires === null ? null : grant.Expires * 1000 };
  }

  /** Why a token is refused; a manager that cannot be asked is said so, with the way around it. */
  private refusal(err: unknown): Error {
    if (err instanceof RpcError && err.code === RPC_CODES.Application) return new RefusedByManager(`refused by the manager: ${err.message}`);
    const why =
      err instanceof RpcError && err.code === RPC_CODES.Unauthorized
        ? `the manager refused this worker's own [sector_manager] token (${err.message})`
        : `asking the manager failed (${err instanceof Error ? err.message : String(err)})`;
    return new Error(`the token cannot be checked now: ${why}; this worker's rpc_server.token works without the manager`);
  }

  private remember(id: string, verdict: Verdict): void {
    if (this.verdicts.size >= this.capacity) {
      const now = Date.now();
      for (const [k, v] of this.verdicts) if (v.until <= now) this.verdicts.delete(k);
      while (this.verdicts.size >= this.capacity) this.verdicts.delete(this.verdicts.keys().next().value as string);
    }
    this.verdicts.set(id, verdict);
  }
}

class RefusedByManager extends Error {}
