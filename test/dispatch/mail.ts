// Reads the messages nodemailer sends (headers, multipart MIME, quoted-printable or base64 parts) so tests can assert on the decoded subject and bodies.

export interface DecodedMail {
  subject: string;
  headers: Map<string, string>;
  /** Decoded text parts by content type (text/plain, text/html). */
  parts: Map<string, string>;
  /** Content types of every leaf part, attachments included. */
  contentTypes: string[];
}

export function decodeMail(raw: string): DecodedMail {
  const { headers, body } = splitHeaders(raw);
  const parts = new Map<string, string>();
  const contentTypes: string[] = [];
  walk(headers, body, parts, contentTypes);
  return { subject: decodeWords(headers.get('subject') ?? ''), headers, parts, contentTypes };
}

/** Headers (unfolded, names lower-cased) and the body after the blank line. */
function splitHeaders(raw: string): { headers: Map<string, string>; body: string } {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function walk(headers: Map<string, string>, body: string, out: Map<string, string>, types: string[]): void {
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (type.toLowerCase().startsWith('multipart/') && boundary) {
    const sections = body.split(`--${boundary}`).slice(1);
    for (const section of sections) {
      if (section.startsWith('--')) break;
      const part = splitHeaders(section.replace(/^\r?\n/, ''));
      walk(part.headers, part.body, out, types);
    }
    return;
  }
  const mime = type.split(';')[0]!.trim().toLowerCase();
  types.push(mime);
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const bytes =
    encoding === 'base64'
      ? Buffer.from(body.replace(/\s+/g, ''), 'base64')
      : encoding === 'quoted-printable'
        ? quotedPrintable(body)
        : Buffer.from(body, 'utf8');
  if (mime.startsWith('text/')) out.set(mime, bytes.toString('utf8'));
}

function quotedPrintable(s: string): Buffer {
  const soft = s.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const hex = soft[i] === '=' ? /^[0-9A-F]{2}/i.exec(soft.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= and =?UTF-8?B?...?=), as nodemailer writes non-ASCII subjects. */
function decodeWords(s: string): string {
  return s
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_m, _charset: string, kind: string, text: string) =>
      kind.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : quotedPrintable(text.replace(/_/g, ' ')).toString('utf8'),
    );
}
