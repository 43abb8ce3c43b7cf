import { createReadStream } from 'node:fs';
import { permanent, temporary } from '../../core/errors.js';
import { unsealedSectorCommitment, zeroCommitment, type PieceCommitment } from '../../core/commitment.js';
import { pieceCommitment, PieceHasher } from '../../core/piece.js';
import type { AddPiecesTask, PieceCommitmentOutput, PieceCommitmentTask, PieceFile, PieceInfo } from '../../core/wire/processor.js';

/**
 * What the `mock` and `builtin` processors share about pieces: sizes, reading a piece's payload from a local
 * file or a URL, its commitment once zero-padded to the piece size, and the piece_commitment stage.
 */

export type PieceSpec = AddPiecesTask['pieces'][number];

/** Padded size of an unpadded piece size (127·2^k → 128·2^k); refuses anything else. */
export function paddedOf(unpadded: number): number {
  const padded = (unpadded / 127) * 128;
  if (!Number.isSafeInteger(padded) || padded < 128 || !Number.isInteger(Math.log2(padded))) {
    throw new Error(`piece size ${unpadded} is not an unpadded piece size (127·2^k bytes, at least 127)`);
  }
  return padded;
}

/** Checks a piece's sizes and returns its padded size. */
export function checkPiece(piece: PieceSpec): number {
  let padded: number;
  try {
    padded = paddedOf(piece.piece_size);
  } catch (err) {
    throw new Error(`piece ${describePieceFile(piece.piece_file)}: ${(err as Error).message}`);
  }
  if (!Number.isSafeInteger(piece.payload_size) || piece.payload_size < 0 || piece.payload_size > piece.piece_size) {
    throw new Error(
      `piece ${describePieceFile(piece.piece_file)}: payload_size ${piece.payload_size} must be between 0 and piece_size ${piece.piece_size}`,
    );
  }
  return padded;
}

/** How a piece's source appears in error texts: a URL without its query or credentials, which may hold secrets. */
export function describePieceFile(file: PieceFile): string {
  if (file === 'pledge') return 'pledge';
  if (!('url' in file)) return file.local;
  if (!URL.canParse(file.url)) return '<unparsable URL>';
  const url = new URL(file.url);
  return `${url.origin}${url.pathname}${url.search || url.username || url.password ? ' (query and credentials not shown)' : ''}`;
}

/** The padded pieces of a sector, ready for `unsealedSectorCommitment`. */
export function pieceCommitments(infos: readonly PieceInfo[]): PieceCommitment[] {
  return infos.map((info) => ({ size: paddedOf(info.size), commitment: Uint8Array.from(info.commitment) }));
}

/** CommD of a sector from the piece infos add_pieces returned. */
export const sectorCommD = (sectorSize: number, infos: readonly PieceInfo[]): Uint8Array =>
  unsealedSectorCommitment(sectorSize, pieceCommitments(infos));

/** The piece infos of a CC sector: one zero piece filling it. */
export const ccPieceInfos = (sectorSize: number): PieceInfo[] => [
  { commitment: Array.from(zeroCommitment(sectorSize)), size: (sectorSize / 128) * 127 },
];

/** Checks that the pieces, each aligned to its padded size, fit in the sector. */
export function checkFits(sectorSize: number, pieces: readonly PieceSpec[]): void {
  let offset = 0;
  for (const piece of pieces) {
    const padded = checkPiece(piece);
    offset = Math.ceil(offset / padded) * padded + padded;
  }
  if (offset > sectorSize) {
    throw new Error(`pieces need ${offset} bytes with alignment, more than the ${sectorSize}-byte sector`);
  }
}

/** What the `mock` and `builtin` add_pieces send when they fetch a piece by URL. */
export interface PieceAccess {
  /** Bearer token for the piece store (`piece_token`, else the manager token); null: none. */
  token: string | null;
  /**
   * Bearer token for the market a damocles-manager's piece store redirects to: `piece_token` only. The manager
   * token is never sent to another server.
   */
  marketToken: string | null;
  /** Sent to the piece store (`rpc_client.headers`: whatever the manager's gateway needs), not to a redirect target. */
  headers: Readonly<Record<string, string>>;
}

export const NO_PIECE_ACCESS: PieceAccess = { token: null, marketToken: null, headers: {} };

/**
 * The first `payloadSize` bytes of a piece, as add_pieces reads them. A URL is fetched with its token in
 * `Authorization: Bearer`, never in the URL. A source shorter than `payloadSize` is an error: padding it
 * silently would seal a piece whose commitment differs from the deal's.
 *
 * Failure levels: what a retry can fix is temporary (the manager restarting or overloaded: connection refused
 * or reset, timeouts, DNS, HTTP 5xx and 429, a body cut short); what it cannot is permanent, so the thread
 * pauses with the reason (HTTP 4xx: a missing piece or a refused token will not fix itself; a short local file).
 */
export async function* pieceData(file: Exclude<PieceFile, 'pledge'>, payloadSize: number, access: PieceAccess = NO_PIECE_ACCESS): AsyncGenerator<Uint8Array> {
  if (payloadSize === 0) return;
  const name = describePieceFile(file);
  const remote = 'url' in file;
  let source: AsyncIterable<Uint8Array>;
  if (remote) {
    source = await fetchPiece(file.url, access);
  } else {
    source = createReadStream(file.local, { start: 0, end: payloadSize - 1 });
  }
  let taken = 0;
  try {
    for await (const chunk of source) {
      const part = chunk.subarray(0, payloadSize - taken);
      taken += part.length;
      yield part;
      if (taken === payloadSize) return;
    }
  } catch (err) {
    if (remote && isNetworkError(err)) throw temporary(`GET ${name}: the transfer broke after ${taken} bytes: ${networkCause(err)}`);
    throw err;
  }
  const short = `piece ${name} has ${taken} bytes, but its payload_size is ${payloadSize}`;
  throw remote ? temporary(short) : permanent(short);
}

/** Answers worth another try later: the server is there but cannot serve now. */
const RETRIABLE_STATUS = new Set([408, 425, 429]);

/** The answers that send a client elsewhere with a `Location`. */
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/** The header damocles' piece fetcher sends with the market token, naming the API the token is for. */
export const MARKET_NAMESPACE_HEADER = { 'x-venus-api-namespace': 'v1.IMarket' };

/**
 * GETs a piece. A damocles-manager's piece store may answer with a redirect to the market: it is followed
 * once, by hand, with the market token and namespace header (what damocles' fetcher sends), so the manager
 * token and the gateway headers never leave for another server. A second redirect is an error.
 */
async function fetchPiece(url: string, access: PieceAccess): Promise<AsyncIterable<Uint8Array>> {
  const secrets = [access.token, access.marketToken].filter((s): s is string => !!s);
  const first = await get(url, { ...access.headers, ...bearer(access.token) }, describePieceFile({ url }), secrets);
  if (!REDIRECT_STATUS.has(first.response.status)) return body(first, secrets);
  const location = first.response.headers.get('location');
  await first.response.body?.cancel();
  const target = location !== null && URL.canParse(location, url) ? new URL(location, url) : null;
  if (!target || (target.protocol !== 'http:' && target.protocol !== 'https:')) {
    const to = target ? `${target.protocol} URL` : 'no valid Location';
    throw permanent(`GET ${first.shown}: HTTP ${first.response.status} redirect to ${to}: expected an http(s) URL`);
  }
  const shown = `${describePieceFile({ url: target.href })} (redirected from ${first.shown})`;
  const second = await get(target.href, { ...MARKET_NAMESPACE_HEADER, ...bearer(access.marketToken) }, shown, secrets);
  if (REDIRECT_STATUS.has(second.response.status)) {
    await second.response.body?.cancel();
    throw permanent(`GET ${shown}: HTTP ${second.response.status}: a second redirect; expected the piece's bytes after one redirect`);
  }
  return body(second, secrets);
}

const bearer = (token: string | null): Record<string, string> => (token === null ? {} : { authorization: `Bearer ${token}` });

interface Answer {
  response: Response;
  /** The URL as error texts may show it. */
  shown: string;
}

async function get(url: string, headers: Record<string, string>, shown: string, secrets: string[]): Promise<Answer> {
  try {
    return { response: await fetch(url, { headers, redirect: 'manual' }), shown };
  } catch (err) {
    const text = `GET ${shown}: ${hide(networkCause(err), secrets)}`;
    throw isNetworkError(err) ? temporary(text) : permanent(text);
  }
}

/** The piece's bytes from a 2xx answer; any other answer is an error carrying what the server said. */
async function body({ response, shown }: Answer, secrets: string[]): Promise<AsyncIterable<Uint8Array>> {
  if (response.ok && response.body) return response.body;
  // A server may echo the request back: no token is shown.
  const said = hide((await response.text().catch(() => '')).trim().slice(0, 300), secrets);
  const text = `GET ${shown}: HTTP ${response.status} ${response.statusText}${said ? `: ${said}` : ''}`;
  throw response.status >= 500 || RETRIABLE_STATUS.has(response.status) ? temporary(text) : permanent(text);
}

const hide = (text: string, secrets: string[]): string => secrets.reduce((t, s) => t.split(s).join('<hidden>'), text);

/** undici's fetch fails with a TypeError whose cause carries the system or undici error code. */
function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Connection refused / reset / aborted, socket hang-up, timeouts, DNS: the network or the server's restart. */
function isNetworkError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && (code.startsWith('E') || code.startsWith('UND_ERR_'));
}

function networkCause(err: unknown): string {
  const code = errorCode(err);
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
  return code && !cause.includes(code) ? `${code}: ${cause}` : cause;
}

/**
 * Commitment of a payload zero-padded to a piece of `padded` bytes. The hasher stops at the payload's own
 * power-of-two size; the zeros above it only add zero subtrees on the right, which is what
 * `unsealedSectorCommitment` folds in.
 */
export function paddedPieceCommitment(hasher: PieceHasher, padded: number): Uint8Array {
  if (hasher.payloadSize === 0) return zeroCommitment(padded);
  const digest = hasher.digest();
  return unsealedSectorCommitment(padded, [{ size: digest.paddedSize, commitment: digest.commP }]);
}

/** The piece_commitment stage: CommP of a whole file, padded to its natural piece size. */
export async function filePieceCommitment(task: PieceCommitmentTask): Promise<PieceCommitmentOutput> {
  const digest = await pieceCommitment(createReadStream(task.piece_file));
  return { commitment: Array.from(digest.commP), padded_size: digest.paddedSize, payload_size: digest.payloadSize };
}
