/** Message exit codes (go-state-types `exitcode`, builtin-actors `ActorError`). */
export const ExitCode = {
  Ok: 0,
  SysErrSenderInvalid: 1,
  SysErrSenderStateInvalid: 2,
  SysErrIllegalInstruction: 4,
  SysErrInvalidReceiver: 5,
  SysErrInsufficientFunds: 6,
  SysErrOutOfGas: 7,
  ErrIllegalArgument: 16,
  ErrNotFound: 17,
  ErrForbidden: 18,
  ErrInsufficientFunds: 19,
  ErrIllegalState: 20,
  ErrSerialization: 21,
  ErrUnhandledMessage: 22,
} as const;

const NAMES = new Map<number, string>(Object.entries(ExitCode).map(([name, code]) => [code, name]));

export const exitCodeName = (code: number): string => NAMES.get(code) ?? `ExitCode(${code})`;

/** Exit codes after which the same message may succeed if sent again (funds or gas ran short). */
export const isRetriableExit = (code: number): boolean =>
  code === ExitCode.SysErrInsufficientFunds || code === ExitCode.SysErrOutOfGas || code === ExitCode.ErrInsufficientFunds;
