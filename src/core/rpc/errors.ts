/** JSON-RPC 2.0 error codes, plus the application code go-jsonrpc (Lotus, damocles) uses for handler errors. */
export const RPC_CODES = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Missing or insufficient permission for the method (bearer token). */
  Unauthorized: -32001,
  /** A handler refused or failed the call; the message says why. */
  Application: 1,
} as const;

/** An error answer from the remote side, or one a handler throws to choose its code. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** The call never got an answer: connection refused, timeout, or a reply that is not JSON-RPC. */
export class RpcTransportError extends Error {
  override readonly name = 'RpcTransportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
