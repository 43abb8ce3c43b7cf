import { createReadStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { Selectable, Transaction } from 'kysely';
import { CID } from 'multiformats/cid';
import { cidToCommitment, commitmentToCid, isCommitmentCid } from '../../core/commitment.js';
import { paddedPieceSize, pieceCommitment } from '../../core/piece.js';
import { formatSize } from '../../core/units.js';
import { idAddress } from '../../chain/address.js';
import type { AcquireDealsSpec, SectorID, SectorPieceV2 } from '../../core/wire/sealer.js';
import type { ManagerDb } from '../db/open.js';
import type { Database, PiecesTable } from '../db/schema.js';
import type { SidecarClient } from '../../core/processor/sidecar.js';

export type PieceRow = Selectable<PiecesTable>;

/** The chain epochs a sector's pieces are for: from the epoch they were assigned to the sector's expiration. */
export interface PieceTerm {
  start: number;
  end: number;
}

export interface ImportedDigest {
  pieceCid: string;
  paddedSize: number;
  payloadSize: number;
}

/** Computes the commitment of a whole file (TypeScript, or the sidecar's fast path). */
export interface PieceHashing {
  /** `typescript` or `sidecar`: reported with each import. */
  readonly name: string;
  digest(file: string): Promise<ImportedDigest>;
  close(): Promise<void>;
}

export const typescriptHashing: PieceHashing = {
  name: 'typescript',
  digest: (file) => pieceCommitment(createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })),
  close: async () => undefined,
};

/** The sidecar's piece_commitment stage: the proofs library's own CommP, several times faster than TypeScript. */
export function sidecarHashing(client: SidecarClient): PieceHashing {
  return {
    name: 'sidecar',
    async digest(file) {
      const out = await client.run('piece_commitment', { piece_file: file });
      return {
        pieceCid: commitmentToCid('unsealed', Uint8Array.from(out.commitment)).toString(),
        paddedSize: out.padded_size,
        payloadSize: out.payload_size,
      };
    },
    close: () => client.close(),
  };
}

/**
 * Deal pieces: imported files with their piece commitment, kept in `<dir>/<piece CID>` (`[pieces] dir`,
 * default `<home>/pieces`), queued until a sector takes them. A piece is in at most one live sector; an
 * aborted sector gives its pieces back to the queue.
 */
export class PieceQueue {
  constructor(
    private readonly db: ManagerDb,
    private readonly home: string,
    readonly hashing: PieceHashing = typescriptHashing,
    /** `[pieces] import_dirs`: the only places files are imported from. */
    private readonly importDirs: readonly string[] = [],
    readonly dir: string = join(home, 'pieces'),
  ) {}

  /**
   * Copies `file` into the piece store, computes its commitment and queues it (for `miner`, or any). Only a
   * regular file whose real path (symlinks resolved) lies in one of `importDirs` and outside the manager home
   * is taken: the piece store serves its bytes to every read token. The commitment is computed on the copy, so
   * the stored bytes are the ones the CID names even if the source changes meanwhile. A piece that cannot fit
   * in a `sectorSize` sector is refused before any copying.
   */
  async import(file: string, miner: number | null, sectorSize: number): Promise<PieceRow> {
    const source = await this.importable(file);
    const info = await stat(source);
    if (!info.isFile()) throw new Error(`cannot import ${file}: not a regular file`);
    if (info.size === 0) throw new Error(`cannot import ${file}: the file is empty`);
    const padded = paddedPieceSize(info.size);
    if (padded > sectorSize) {
      throw new Error(`cannot import ${file}: its ${formatSize(padded)} piece does not fit in ${formatSize(sectorSize)} sectors`);
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const partial = join(this.dir, `import-${randomUUID()}.partial`);
    try {
      await copyFile(source, partial);
      // copyFile gives the copy the source's mode; a deal's bytes are the owner's alone.
      await chmod(partial, 0o600);
      const digest = await this.hashing.digest(partial);
      const existing = await this.get(digest.pieceCid);
      if (existing) return existing;
      // Bytes named by their commitment: another manager importing the same piece at once writes the same file.
      await rename(partial, this.path(digest.pieceCid));
      const row: PieceRow = {
        cid: digest.pieceCid,
        miner,
        padded_size: digest.paddedSize,
        payload_size: digest.payloadSize,
        status: 'queued',
        sector_miner: null,
        sector_number: null,
        imported_at: Date.now(),
      };
      const inserted = await this.db.insertInto('pieces').values(row).onConflict((oc) => oc.column('cid').doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) return (await this.get(digest.pieceCid)) ?? row;
      return row;
    } finally {
      await rm(partial, { force: true });
    }
  }

  /** The real path of `file` if `[pieces] import_dirs` allow importing it; otherwise an error naming why not. */
  private async importable(file: string): Promise<string> {
    if (this.importDirs.length === 0) {
      throw new Error(`cannot import ${file}: no import directory is configured; set [pieces] import_dirs in manager.toml to the directories deal files may be imported from`);
    }
    const real = await realpath(file).catch((err: NodeJS.ErrnoException) => {
      throw new Error(err.code === 'ENOENT' ? `cannot import ${file}: no such file` : `cannot import ${file}: ${err.code ?? err.message}`);
    });
    const home = await realpath(this.home);
    if (isWithin(real, home)) throw new Error(`cannot import ${file}: it is in the manager home (${home}), whose files are never imported`);
    for (const dir of this.importDirs) {
      if (isWithin(real, await realpath(dir).catch(() => dir))) return real;
    }
    const shown = real === file ? file : `${file} (${real})`;
    throw new Error(`cannot import ${shown}: it is not under any of [pieces] import_dirs (${this.importDirs.join(', ')})`);
  }

  path(cid: string): string {
    return join(this.dir, CID.parse(cid).toString());
  }

  get(cid: string): Promise<PieceRow | undefined> {
    return this.db.selectFrom('pieces').selectAll().where('cid', '=', cid).executeTakeFirst();
  }

  list(page: { limit: number; offset: number }): Promise<PieceRow[]> {
    return this.db.selectFrom('pieces').selectAll().orderBy('imported_at').orderBy('cid').limit(page.limit).offset(page.offset).execute();
  }

  /**
   * Gives the sector queued pieces, oldest first, that fit in it (each piece aligned to its own size),
   * at most `MaxDeals` (0: none); fewer padded bytes than `MinUsedSpace` gives none. Returns null for a CC
   * sector. Runs in the transaction that records the pieces on the sector.
   */
  async acquire(trx: Transaction<Database>, sector: SectorID, sectorSize: number, spec: AcquireDealsSpec, term: PieceTerm): Promise<SectorPieceV2[] | null> {
    if (spec.MaxDeals === 0) return null;
    const queued = await trx
      .selectFrom('pieces')
      .selectAll()
      .where('status', '=', 'queued')
      .where((eb) => eb.or([eb('miner', 'is', null), eb('miner', '=', sector.Miner)]))
      .orderBy('imported_at')
      .limit(1000)
      .execute();
    const chosen: PieceRow[] = [];
    let offset = 0;
    for (const p of queued) {
      if (spec.MaxDeals !== null && spec.MaxDeals !== undefined && chosen.length >= spec.MaxDeals) break;
      const size = Number(p.padded_size);
      const start = Math.ceil(offset / size) * size;
      if (start + size > sectorSize) continue;
      chosen.push(p);
      offset = start + size;
    }
    if (chosen.length === 0 || offset < (spec.MinUsedSpace ?? 0)) return null;
    const taken = await trx
      .updateTable('pieces')
      .set({ status: 'assigned', sector_miner: sector.Miner, sector_number: sector.Number })
      .where('cid', 'in', chosen.map((p) => p.cid))
      // On PostgreSQL another transaction (this manager's pool, or another manager) may have taken one of
      // them since the select: this one then rolls back and its caller starts over (`retryWhenPiecesTaken`).
      .where('status', '=', 'queued')
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== chosen.length) throw new PiecesTaken();
    let at = 0;
    return chosen.map((p) => {
      const size = Number(p.padded_size);
      at = Math.ceil(at / size) * size;
      const piece = toSectorPiece(p, sector, at, term);
      at += size;
      return piece;
    });
  }

  /** Puts a sector's pieces back in the queue (the sector was aborted), in the transaction that aborts it. */
  async release(trx: Transaction<Database>, sector: SectorID): Promise<number> {
    const res = await trx
      .updateTable('pieces')
      .set({ status: 'queued', sector_miner: null, sector_number: null })
      .where('sector_miner', '=', sector.Miner)
      .where('sector_number', '=', sector.Number)
      .where('status', '=', 'assigned')
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** Marks a finished sector's pieces as sealed, in the transaction that finishes it: they stay out of the queue for good. */
  async sealed(trx: Transaction<Database>, sector: SectorID): Promise<void> {
    await trx.updateTable('pieces').set({ status: 'sealed' }).where('sector_miner', '=', sector.Miner).where('sector_number', '=', sector.Number).execute();
  }
}

/** Another transaction assigned some of the chosen pieces first; this one rolls back. */
export class PiecesTaken extends Error {
  constructor() {
    super('the queued pieces chosen for this sector were taken by another sector at the same time; try again');
  }
}

/** Each attempt loses only to a transaction that took pieces, so a few cover any realistic burst. */
const ACQUIRE_ATTEMPTS = 20;

/** Runs a transaction that acquires pieces again, from the start, each time it lost its pieces to another. */
export async function retryWhenPiecesTaken<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof PiecesTaken) || attempt === ACQUIRE_ATTEMPTS) throw err;
    }
  }
}

/** Whether the real path `path` is `dir` or below it (both real: no symlink in either). */
function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * The manager's number for a piece: the first 6 bytes of its commitment, never 0. A worker reads a piece
 * with `DealID` 0, `IsBuiltinMarket` false and `AllocationID` 0 as filler (damocles' worker then writes
 * zeros instead of fetching the bytes), so our pieces, which have no market deal and no verified
 * allocation, carry this number as their AllocationID. It only marks the piece as data: it is derived
 * from the CID (the same on every manager of a cluster, with no column to keep), and never sent to the
 * chain, whose activation manifests carry no allocation for our pieces.
 */
export function pieceNumber(commitment: Uint8Array): number {
  return Math.max(1, Buffer.from(commitment).readUIntBE(0, 6));
}

function toSectorPiece(p: PieceRow, sector: SectorID, offset: number, term: PieceTerm): SectorPieceV2 {
  const cid = CID.parse(p.cid);
  if (!isCommitmentCid('unsealed', cid)) throw new Error(`piece ${p.cid} is not a piece commitment CID`);
  const provider = idAddress(sector.Miner);
  return {
    Piece: { Size: Number(p.padded_size), PieceCID: { '/': p.cid } },
    DealInfo: {
      DealID: 0,
      PublishCid: null,
      AllocationID: pieceNumber(cidToCommitment('unsealed', cid)),
      PieceCID: { '/': p.cid },
      PieceSize: Number(p.padded_size),
      Client: provider,
      Provider: provider,
      Offset: offset,
      Length: Number(p.padded_size),
      PayloadSize: Number(p.payload_size),
      StartEpoch: term.start,
      EndEpoch: term.end,
      IsBuiltinMarket: false,
      IsCompatible: true,
    },
  };
}
