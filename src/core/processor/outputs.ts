import { z } from 'zod';
import type { OutputOf, ProcessorStage } from '../wire/processor.js';

export const byteArray = z.array(z.number().int().min(0).max(255));
export const bytes32 = byteArray.length(32);

const size = z.number().int().positive();

/**
 * The output JSON of each stage, checked when it comes from an external processor: a child that answers
 * with the wrong shape fails its task here, with the field named, instead of somewhere later in the sealing
 * thread. Opaque outputs (pc1, c1) pass as they are.
 */
export const OUTPUT_SCHEMAS: { [S in ProcessorStage]: z.ZodType<OutputOf<S>> } = {
  add_pieces: z.array(z.object({ commitment: bytes32, size })),
  tree_d: z.boolean(),
  pc1: z.unknown(),
  pc2: z.object({ registered_proof: z.string(), comm_r: bytes32, comm_d: bytes32 }),
  c1: z.unknown(),
  c2: z.object({ proof: byteArray }),
  snap_encode: z.object({ comm_r_new: bytes32, comm_r_last_new: bytes32, comm_d_new: bytes32 }),
  snap_partition_proofs: z.array(byteArray),
  snap_prove: byteArray,
  verify_seal: z.boolean(),
  verify_snap: z.boolean(),
  piece_commitment: z.object({ commitment: bytes32, padded_size: size, payload_size: size }),
  transfer: z.boolean(),
  window_post: z.object({ proofs: z.array(z.base64()), faults: z.array(z.number().int().nonnegative()) }),
  verify_window_post: z.boolean(),
};
