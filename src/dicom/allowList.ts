import net from 'node:net';

/**
 * The calling-AE allow-list (`dicom.allowedCallingAeTitles`). An entry is an AE title, which
 * may call from anywhere, or `AE@address`, which may call only from that IP address (IPv4 or
 * IPv6; host names are not resolved: DNS is not what a peer's identity should rest on). One AE
 * title may have several entries, one per address. The split is at the last "@", so an AE
 * title that itself contains "@" cannot be bound to an address.
 */
export interface CallerRule {
  aeTitle: string;
  /** Normalised (see normaliseAddress); absent: any address. */
  address?: string;
}

export function parseCallerRule(entry: string): CallerRule {
  const at = entry.lastIndexOf('@');
  if (at > 0 && net.isIP(entry.slice(at + 1)) !== 0) return { aeTitle: entry.slice(0, at), address: normaliseAddress(entry.slice(at + 1)) };
  return { aeTitle: entry };
}

/** Why an entry cannot be an allow-list entry, or undefined when it can (for config checks). */
export function callerRuleProblem(entry: string): string | undefined {
  const at = entry.lastIndexOf('@');
  if (at > 0 && net.isIP(entry.slice(at + 1)) === 0) {
    return `"${entry}": after "@" comes an IP address (host names are not resolved)`;
  }
  return undefined;
}

export type CallerVerdict = 'allowed' | 'unknown-ae' | 'wrong-address';

/** An empty list allows every caller. */
export function checkCaller(rules: readonly CallerRule[], callingAe: string, peerAddress: string): CallerVerdict {
  if (rules.length === 0) return 'allowed';
  const forAe = rules.filter((r) => r.aeTitle === callingAe);
  if (forAe.length === 0) return 'unknown-ae';
  const address = normaliseAddress(peerAddress);
  return forAe.some((r) => r.address === undefined || r.address === address) ? 'allowed' : 'wrong-address';
}

/** "::ffff:10.0.0.5" (IPv4 on a dual-stack socket) compares as "10.0.0.5". */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
