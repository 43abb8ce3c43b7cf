import { z } from 'zod';
import { PERMISSIONS } from '../rpc/server.js';

/** The manager method a worker asks whether a token shown to its control API is good, and for what. */
export const AUTH_VERIFY = 'SealFleet.AuthVerify';

/** Longer than any JWT the manager signs (about 250 characters) by far; the bound keeps a flood of junk cheap. */
export const TOKEN_MAX_LENGTH = 4096;

/**
 * What a token grants: its manager permission, the worker it belongs to, the worker whose threads it may
 * steer (a control token, `SealFleet.AuthControlToken`), and when it expires (seconds since the epoch).
 */
export const TokenGrant = z.object({
  Perm: z.enum(PERMISSIONS),
  Worker: z.string().nullable(),
  Control: z.string().nullable(),
  Expires: z.number().nullable(),
});
export type TokenGrant = z.infer<typeof TokenGrant>;
