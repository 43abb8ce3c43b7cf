import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { PERMISSIONS, type Caller, type Permission } from '../core/rpc/server.js';

/**
 * Lotus-style API tokens: HS256 JWTs whose `Allow` claim lists permissions. The secret is created at
 * first start in the manager home (`jwt.secret`, mode 0600).
 */
export function loadSecret(home: string, create: boolean): Uint8Array {
  const path = join(home, 'jwt.secret');
  if (!existsSync(path)) {
    if (!create) throw new Error(`no JWT secret at ${path}: start the manager daemon once to create it`);
    writeFileSync(path, randomBytes(32).toString('hex'), { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  const hex = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`JWT secret ${path} is not 32 bytes of hex`);
  return Buffer.from(hex, 'hex');
}

export function createToken(secret: Uint8Array, perm: Permission): Promise<string> {
  const allow = PERMISSIONS.slice(0, PERMISSIONS.indexOf(perm) + 1);
  return new SignJWT({ Allow: allow }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secret);
}

/** A token's stable id: what the manager stores and logs instead of the token. */
export const tokenFingerprint = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);

/** The caller a token stands for (its highest permission); throws on a missing, forged or malformed token. */
export async function verifyToken(secret: Uint8Array, token: string | undefined): Promise<Caller> {
  if (!token) throw new Error('missing bearer token');
  const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'] });
  const allow = Array.isArray(payload.Allow) ? (payload.Allow as unknown[]) : [];
  const granted = PERMISSIONS.filter((p) => allow.includes(p));
  const top = granted[granted.length - 1];
  if (!top) throw new Error('token grants no permission');
  return { perm: top, credential: tokenFingerprint(token), worker: null };
}

/**
 * `verifyToken` with a memory of tokens already verified: every worker call carries the same few tokens,
 * and a signature check per call costs more than the call. Refused tokens are not remembered.
 */
export function tokenVerifier(secret: Uint8Array, capacity = 1024): (token: string | undefined) => Promise<Caller> {
  const known = new Map<string, Caller>();
  return async (token) => {
    const hit = token === undefined ? undefined : known.get(token);
    if (hit) return hit;
    const caller = await verifyToken(secret, token);
    if (known.size >= capacity) known.clear();
    known.set(token as string, caller);
    return caller;
  };
}
