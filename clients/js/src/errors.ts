/** A failed call or a refused frame: the server's error `code` (docs/protocol.md), or
 * `connection_lost` (the socket dropped while the call was in flight) or `closed`. */
export class AgentError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "AgentError";
    this.code = code;
  }
}
