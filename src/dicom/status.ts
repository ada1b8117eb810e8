/** DIMSE status codes, PS3.4 Annex B.2.3 (Storage) and PS3.7 Annex C. */
export const DicomStatus = {
  Success: 0x0000,
  /** PS3.7 C.4: a failure while processing the request. */
  ProcessingFailure: 0x0110,
  /** PS3.4 B.2.3: Refused: Out of Resources. */
  OutOfResources: 0xa700,
  /** PS3.4 B.2.3: Error: Data Set does not match SOP Class. */
  DataSetDoesNotMatchSopClass: 0xa900,
  /** PS3.4 B.2.3: Error: Cannot understand. */
  CannotUnderstand: 0xc000,
} as const;

export interface StoreOutcome {
  status: number;
  /** Goes into the response's ErrorComment (64 characters at most) and the log. */
  comment?: string;
}

export function statusName(status: number): string {
  const hex = `0x${status.toString(16).padStart(4, '0').toUpperCase()}`;
  if (status === 0) return `${hex} Success`;
  if ((status & 0xff00) === 0xa700) return `${hex} Out of Resources`;
  if ((status & 0xff00) === 0xa900) return `${hex} Data Set does not match SOP Class`;
  if ((status & 0xf000) === 0xc000) return `${hex} Cannot understand`;
  if ((status & 0xf000) === 0xb000) return `${hex} Warning`;
  if (status === 0x0110) return `${hex} Processing failure`;
  return hex;
}

/** Success or warning: the peer accepted the object. */
export function isStoreAccepted(status: number): boolean {
  return status === 0 || (status & 0xf000) === 0xb000 || status === 0x0107 || status === 0x0116;
}
