/**
 * The one catalogue of errors a user can meet. Each has a stable code and a sentence that says
 * what to do; `docs/errors.md` lists them and a test keeps the two in step.
 */
export const errorCatalogue = {
  CONFIG_NOT_FOUND: 'The config file cannot be read. Pass --config FILE or set ICH_TRIAGE_CONFIG.',
  CONFIG_INVALID: 'The config file has an invalid value. Fix the key named and run `ich-triage check-config`.',
  MODEL_NOT_FOUND: 'The model file does not exist. Check model.path in the config.',
  MODEL_CONTRACT: 'The ONNX model does not carry the ich-triage contract. Export it with `python -m ich_train export`.',
  PROVIDER_UNAVAILABLE: 'The execution provider cannot start on this host. Install its libraries or list a fallback in model.executionProvider.',
  DB_MIGRATION: 'The database schema could not be migrated. Check that storage.dataDir is writable and not used by a newer version.',
  LISTEN_FAILED: 'A port could not be opened. Check that dicom.port and http.port are free and allowed for this user.',
  NOT_FOUND: 'The requested item does not exist.',
  PEER_UNREACHABLE: 'A destination cannot be reached. Check its host, port and that it is running; the outbox retries.',
  PEER_REJECTED: 'A destination refused the object. Its DICOM status says why; the outbox keeps it for `outbox retry`.',
  EVAL_LABELS: 'The labels CSV cannot be used. Give RSNA long format (ID,Label) or a wide table with sop_instance_uid and one 0/1 column per class (docs/eval.md).',
  DAEMON_NOT_RUNNING: 'The node does not answer on its HTTP port. Start it with `ich-triage serve` or check http.host/http.port.',
} as const;

export type ErrorCode = keyof typeof errorCatalogue;

export class IchError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IchError';
    this.code = code;
    this.hint = errorCatalogue[code];
  }

  /** One line for a terminal or a log: what happened, then what to do. */
  describe(): string {
    return `${this.code}: ${this.message}\n  ${this.hint}`;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
