import { z } from 'zod';

/**
 * The Lotus full-node v1 JSON shapes this project reads and serves (lotus `api/api_full.go`,
 * `chain/types`, go-state-types miner). Big integers (attoFIL, weights) travel as decimal strings, bytes
 * as base64, CIDs as `{"/": "…"}`, tipset keys as arrays of CIDs (`null` or `[]` = the head).
 */
export const CidJson = z.object({ '/': z.string().min(1) });
export type CidJson = z.infer<typeof CidJson>;

export const TipSetKey = z.array(CidJson).nullable();
export type TipSetKey = z.infer<typeof TipSetKey>;

export const BigIntString = z.string().regex(/^-?\d+$/, 'expected a decimal integer string');
export const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');
export const Address = z.string().regex(/^[ft][0-4][a-z0-9]+$/, 'expected a Filecoin address like t01000');
export const Epoch = z.number().int();
export const Uint = z.number().int().nonnegative();

export const BlockHeader = z.looseObject({
  Miner: Address,
  Parents: z.array(CidJson),
  Height: Epoch,
  Timestamp: Uint,
  Messages: CidJson,
  ParentStateRoot: CidJson,
  ParentMessageReceipts: CidJson,
  ParentBaseFee: BigIntString,
});
export type BlockHeader = z.infer<typeof BlockHeader>;

export const TipSet = z.object({ Cids: z.array(CidJson), Blocks: z.array(BlockHeader), Height: Epoch });
export type TipSet = z.infer<typeof TipSet>;

export const NetworkParams = z.looseObject({
  NetworkName: z.string(),
  BlockDelaySecs: Uint,
  ConsensusMinerMinPower: BigIntString,
  SupportedProofTypes: z.array(Uint).nullable(),
  PreCommitChallengeDelay: Epoch,
  Eip155ChainID: Uint,
});
export type NetworkParams = z.infer<typeof NetworkParams>;

export const BeneficiaryTerm = z.object({ Quota: BigIntString, UsedQuota: BigIntString, Expiration: Epoch });

export const MinerInfo = z.looseObject({
  Owner: Address,
  Worker: Address,
  NewWorker: z.string(),
  ControlAddresses: z.array(Address).nullable(),
  WorkerChangeEpoch: Epoch,
  PeerId: z.string().nullable(),
  Multiaddrs: z.array(Base64).nullable(),
  WindowPoStProofType: Uint,
  SectorSize: Uint,
  WindowPoStPartitionSectors: Uint,
  ConsensusFaultElapsed: Epoch,
  PendingOwnerAddress: Address.nullable(),
  Beneficiary: Address,
  BeneficiaryTerm: BeneficiaryTerm,
  PendingBeneficiaryTerm: z.unknown().nullable(),
});
export type MinerInfo = z.infer<typeof MinerInfo>;

export const Actor = z.looseObject({ Code: CidJson, Head: CidJson, Nonce: Uint, Balance: BigIntString });
export type Actor = z.infer<typeof Actor>;

export const SectorPreCommitInfo = z.object({
  SealProof: Uint,
  SectorNumber: Uint,
  SealedCID: CidJson,
  SealRandEpoch: Epoch,
  DealIDs: z.array(Uint).nullable(),
  Expiration: Epoch,
  UnsealedCid: CidJson.nullable(),
});
export type SectorPreCommitInfo = z.infer<typeof SectorPreCommitInfo>;

export const SectorPreCommitOnChainInfo = z.object({
  Info: SectorPreCommitInfo,
  PreCommitDeposit: BigIntString,
  PreCommitEpoch: Epoch,
});
export type SectorPreCommitOnChainInfo = z.infer<typeof SectorPreCommitOnChainInfo>;

export const SectorOnChainInfo = z.looseObject({
  SectorNumber: Uint,
  SealProof: Uint,
  SealedCID: CidJson,
  DealIDs: z.array(Uint).nullable(),
  Activation: Epoch,
  Expiration: Epoch,
  DealWeight: BigIntString,
  VerifiedDealWeight: BigIntString,
  InitialPledge: BigIntString,
  ExpectedDayReward: BigIntString.nullable(),
  ExpectedStoragePledge: BigIntString.nullable(),
  PowerBaseEpoch: Epoch,
  ReplacedDayReward: BigIntString.nullable(),
  SectorKeyCID: CidJson.nullable(),
  Flags: Uint,
});
export type SectorOnChainInfo = z.infer<typeof SectorOnChainInfo>;

export const SectorLocation = z.object({ Deadline: Uint, Partition: Uint });
export type SectorLocation = z.infer<typeof SectorLocation>;

export const Message = z.object({
  Version: z.literal(0),
  To: Address,
  From: Address,
  Nonce: Uint,
  Value: BigIntString,
  GasLimit: Uint,
  GasFeeCap: BigIntString,
  GasPremium: BigIntString,
  Method: Uint,
  Params: Base64.nullable(),
  CID: CidJson.optional(),
});
export type Message = z.infer<typeof Message>;

export const MessageSendSpec = z
  .looseObject({
    MaxFee: BigIntString.optional(),
    MsgUuid: z.string().optional(),
    MaximizeFeeCap: z.boolean().optional(),
  })
  .nullable();
export type MessageSendSpec = z.infer<typeof MessageSendSpec>;

export const Signature = z.object({ Type: Uint, Data: Base64 });

export const SignedMessage = z.object({ Message, Signature, CID: CidJson });
export type SignedMessage = z.infer<typeof SignedMessage>;

export const MessageReceipt = z.object({
  ExitCode: z.number().int(),
  Return: Base64.nullable(),
  GasUsed: z.number().int(),
  EventsRoot: CidJson.nullable(),
});
export type MessageReceipt = z.infer<typeof MessageReceipt>;

export const MsgLookup = z.object({
  Message: CidJson,
  Receipt: MessageReceipt,
  ReturnDec: z.unknown(),
  TipSet: z.array(CidJson),
  Height: Epoch,
});
export type MsgLookup = z.infer<typeof MsgLookup>;

/** A bitfield in Lotus JSON: run lengths, starting with a run of zeros (`[0]` is empty). */
export const BitFieldJson = z.array(Uint).min(1);
export type BitFieldJson = z.infer<typeof BitFieldJson>;

/** go-state-types `dline.Info`, as `StateMinerProvingDeadline` returns it. */
export const DeadlineInfo = z.looseObject({
  CurrentEpoch: Epoch,
  PeriodStart: Epoch,
  Index: Uint,
  Open: Epoch,
  Close: Epoch,
  Challenge: Epoch,
  FaultCutoff: Epoch,
  WPoStPeriodDeadlines: Uint,
  WPoStProvingPeriod: Epoch,
  WPoStChallengeWindow: Epoch,
  WPoStChallengeLookback: Epoch,
  FaultDeclarationCutoff: Epoch,
});
export type DeadlineInfo = z.infer<typeof DeadlineInfo>;

/** One entry of `StateMinerDeadlines`. */
export const Deadline = z.looseObject({
  PostSubmissions: BitFieldJson,
  DisputableProofCount: Uint,
  DailyFee: BigIntString,
});
export type Deadline = z.infer<typeof Deadline>;

/** One entry of `StateMinerPartitions`. */
export const Partition = z.looseObject({
  AllSectors: BitFieldJson,
  FaultySectors: BitFieldJson,
  RecoveringSectors: BitFieldJson,
  LiveSectors: BitFieldJson,
  ActiveSectors: BitFieldJson,
});
export type Partition = z.infer<typeof Partition>;
