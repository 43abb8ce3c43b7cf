import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { RPC_CODES, RpcError } from '../core/rpc/errors.js';
import { method, PERMISSIONS, type Caller, type MethodDef, type Permission } from '../core/rpc/server.js';
import { writePrivateFileAtomic } from '../core/privateFiles.js';
import { AUTH_VERIFY, TOKEN_MAX_LENGTH, type TokenGrant } from '../core/wire/tokenGrant.js';

/**
 * Lotus-style API tokens: HS256 JWTs whose `Allow` claim lists permissions, with an optional `exp` and,
 * for a worker's token, a `Worker` claim naming the worker it belongs to. The secret is created at first
 * start in the manager home (`jwt.secret`, 0600) and replaced by `auth rotate-secret`; on PostgreSQL the
 * cluster's database holds it for every manager, and each home's file is a copy (clusterSecret.ts).
 */
export const secretPath = (home: string): string => join(home, 'jwt.secret');
export const tokenPath = (home: string): string => join(home, 'token');

export const newSecret = (): Uint8Array => randomBytes(32);

function writeSecret(home: string, secret: Uint8Array): void {
  writePrivateFileAtomic(secretPath(home), secretHex(secret));
}

export function loadSecret(home: string, create: boolean): Uint8Array {
  const path = secretPath(home);
  if (!existsSync(path)) {
    if (!create) throw new Error(`no JWT secret at ${path}: start the manager daemon once to create it`);
    writeSecret(home, newSecret());
  }
  return parseSecretHex(readFileSync(path, 'utf8').trim(), path);
}

/** A short id of a secret, so that what was bound under one secret is known to be stale under the next. */
export const secretId = (secret: Uint8Array): string => createHash('sha256').update(secret).digest('hex').slice(0, 16);

/**
 * Replaces the secret and the CLI's admin token in `home` (both written atomically, 0600) and returns the
 * new secret: every token signed with the old one is refused from then on.
 */
export async function rotateSecretFiles(home: string): Promise<Uint8Array> {
  const secret = newSecret();
  await writeSecretFiles(home, secret);
  return secret;
}

/** Puts `secret` in `home` with the CLI's admin token signed by it. */
export async function writeSecretFiles(home: string, secret: Uint8Array): Promise<void> {
  const admin = await createToken(secret, 'admin');
  writeSecret(home, secret);
  writePrivateFileAtomic(tokenPath(home), `${admin}\n`);
}

/** The hex form of a secret, as its file (and a PostgreSQL cluster's database) holds it. */
export const secretHex = (secret: Uint8Array): string => Buffer.from(secret).toString('hex');

/** A secret from its hex form; `where` names the source in the error. */
export function parseSecretHex(hex: string, where: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`JWT secret ${where} is not 32 bytes of hex`);
  return Buffer.from(hex, 'hex');
}

export interface TokenOptions {
  /** Lifetime from now, in ms; the token carries `exp` (whole seconds, as JWTs count). */
  expiresInMs?: number;
  /** The worker this token belongs to: its pings may only carry this name. */
  worker?: string;
  /** The worker whose threads this token may steer (see `AuthControlToken`). */
  control?: string;
}

/** A worker name as the `Worker` claim carries it: what a worker's `[worker] name` may be. */
export const WorkerName = z
  .string()
  .min(1, 'a worker name is required')
  .max(128, 'a worker name has at most 128 characters')
  .regex(/^[^\s\p{Cc}]+$/u, 'a worker name has no spaces or control characters');

export function createToken(secret: Uint8Array, perm: Permission, opts: TokenOptions = {}): Promise<string> {
  const allow = PERMISSIONS.slice(0, PERMISSIONS.indexOf(perm) + 1);
  // No `iat`: the same request gives the same token, so the admin token the daemon writes at every start
  // keeps its fingerprint (and any worker name it registered) across restarts.
  const claims = { Allow: allow, ...(opts.worker === undefined ? {} : { Worker: opts.worker }), ...(opts.control === undefined ? {} : { Control: opts.control }) };
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' });
  if (opts.expiresInMs !== undefined) jwt.setExpirationTime(Math.ceil((Date.now() + opts.expiresInMs) / 1000));
  return jwt.sign(secret);
}

/** A token's stable id: what the manager stores and logs instead of the token. */
export const tokenFingerprint = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);

/** The claims we read; others (Lotus adds none, damocles none) are ignored. */
const Claims = z.object({
  Allow: z.array(z.string()).default([]),
  Worker: WorkerName.optional(),
  Control: WorkerName.optional(),
  exp: z.number().optional(),
  nbf: z.number().optional(),
});

interface Verified {
  caller: Caller;
  /** The worker whose control API this token may steer, beyond what `caller.perm` grants there. */
  control: string | null;
  /** Validity window in ms since the epoch (`nbf`, `exp`), checked again on every call. */
  notBefore: number | null;
  expiresAt: number | null;
}

/** Why a token is refused, in words that never include the token. */
function refusal(err: unknown): Error {
  if (err instanceof joseErrors.JWTExpired) return new Error('token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'nbf') return new Error('token not valid yet (nbf)');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new Error('token algorithm not allowed: expected HS256');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new Error('token signature invalid (signed with another secret?)');
  if (err instanceof joseErrors.JOSEError) return new Error(`token invalid (${err.code})`);
  return err instanceof Error ? err : new Error(String(err));
}

async function verify(secret: Uint8Array, token: string | undefined): Promise<Verified> {
  if (!token) throw new Error('missing bearer token');
  let payload: unknown;
  try {
    // jose checks exp and nbf here, and refuses every algorithm but HS256 (alg "none" included).
    ({ payload } = await jwtVerify(token, secret, { algorithms: ['HS256'] }));
  } catch (err) {
    throw refusal(err);
  }
  const claims = Claims.safeParse(payload);
  if (!claims.success) throw new Error(`token claims invalid: ${claims.error.issues[0]?.message ?? 'unknown'}`);
  const granted = PERMISSIONS.filter((p) => claims.data.Allow.includes(p));
  const top = granted[granted.length - 1];
  if (!top) throw new Error('token grants no permission');
  return {
    caller: { perm: top, credential: tokenFingerprint(token), worker: claims.data.Worker ?? null },
    control: claims.data.Control ?? null,
    notBefore: claims.data.nbf === undefined ? null : claims.data.nbf * 1000,
    expiresAt: claims.data.exp === undefined ? null : claims.data.exp * 1000,
  };
}

/** The caller a token stands for (its highest permission); throws on a missing, forged, expired or malformed token. */
export async function verifyToken(secret: Uint8Array, token: string | undefined): Promise<Caller> {
  return (await verify(secret, token)).caller;
}

/**
 * The manager's token check: `verifyToken` with a memory of tokens already verified (every worker call
 * carries the same few tokens, and a signature check per call costs more than the call), and a secret that
 * can be replaced while the daemon runs. The memory keeps each token's validity window, so expiry is
 * honoured on every call, not only on the first.
 */
export class TokenAuthority {
  private readonly known = new Map<string, Verified>();

  constructor(
    private secret: Uint8Array,
    private readonly capacity = 1024,
  ) {}

  /** The id of the secret in use (see `secretId`). */
  get secretId(): string {
    return secretId(this.secret);
  }

  readonly authorize = async (token: string | undefined): Promise<Caller> => (await this.check(token)).caller;

  /** What a token grants, for a worker deciding what its bearer may do on the worker's control API. */
  async grant(token: string): Promise<TokenGrant> {
    const entry = await this.check(token);
    return { Perm: entry.caller.perm, Worker: entry.caller.worker, Control: entry.control, Expires: entry.expiresAt === null ? null : entry.expiresAt / 1000 };
  }

  private async check(token: string | undefined): Promise<Verified> {
    const secret = this.secret;
    const entry = (token === undefined ? undefined : this.known.get(token)) ?? (await verify(secret, token));
    const now = Date.now();
    if (entry.expiresAt !== null && now >= entry.expiresAt) {
      this.known.delete(token as string);
      throw new Error('token expired');
    }
    if (entry.notBefore !== null && now < entry.notBefore) throw new Error('token not valid yet (nbf)');
    // A rotation while this token was being verified: it was checked against the secret just retired.
    if (secret !== this.secret) throw new Error('token refused: the secret was rotated');
    if (!this.known.has(token as string)) {
      if (this.known.size >= this.capacity) this.known.clear();
      this.known.set(token as string, entry);
    }
    return entry;
  }

  sign(perm: Permission, opts?: TokenOptions): Promise<string> {
    return createToken(this.secret, perm, opts);
  }

  /** Uses `secret` from now on: every token verified before is forgotten, so it is checked (and refused) anew. */
  rotate(secret: Uint8Array): void {
    this.secret = secret;
    this.known.clear();
  }
}

/**
 * How long a control token lasts: long enough for one CLI command, short enough that a worker which
 * advertises someone else's address gains nothing lasting from the token it was sent.
 */
export const CONTROL_TOKEN_LIFETIME_MS = 120_000;

/**
 * `SealFleet.AuthRotateSecret` (admin): `auth rotate-secret` against a running manager. `rotateSecret`
 * stores the new secret where it lives (the home's files; on PostgreSQL the cluster's database too) before it
 * is swapped in, so a failed write leaves the old secret in force everywhere.
 *
 * `SealFleet.AuthVerify` (write, so every worker's own token may ask): a worker's control API checks the
 * tokens it is shown here instead of holding a copy of the secret. A refused token is an Application error
 * whose message says why, never an HTTP 401: that would read as the asking worker's own token being refused.
 *
 * `SealFleet.AuthControlToken` (admin): a short-lived token that may steer the named worker's threads (and
 * read, nothing more, at the manager). `util worker …` sends it instead of the operator's admin token, so
 * a worker never holds a credential that works on the manager or on another worker.
 */
export function authMethods(rotateSecret: () => Promise<Uint8Array>, authority: TokenAuthority, onRotated: () => void): Record<string, MethodDef> {
  return {
    [AUTH_VERIFY]: method(
      [z.string().min(1).max(TOKEN_MAX_LENGTH)],
      async (token) => {
        try {
          return await authority.grant(token);
        } catch (err) {
          throw new RpcError(RPC_CODES.Application, (err as Error).message);
        }
      },
      'write',
    ),
    'SealFleet.AuthControlToken': method(
      [WorkerName],
      (worker) => authority.sign('read', { control: worker, expiresInMs: CONTROL_TOKEN_LIFETIME_MS }),
      'admin',
    ),
    'SealFleet.AuthRotateSecret': method(
      [],
      async () => {
        authority.rotate(await rotateSecret());
        onRotated();
        return null;
      },
      'admin',
    ),
  };
}
