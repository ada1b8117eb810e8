// A real SMTP server (smtp-server, in process) that keeps what it receives: the mail peer of the report benchmark and of the dispatch tests.
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The whole message as sent (headers and MIME body). */
  raw: string;
  /** Date.now() when the message was accepted. */
  receivedAt: number;
  envelopeTo: string[];
  /** The message came over TLS (implicit, or after STARTTLS). */
  secure: boolean;
}

/** TLS for the sink: implicit (`secure`), or STARTTLS offered to plain connections. */
export interface SmtpSinkTls {
  key: Buffer;
  cert: Buffer;
  /** Implicit TLS from the first byte (SMTPS); otherwise STARTTLS is offered. */
  secure: boolean;
}

export interface SmtpSink {
  readonly port: number;
  readonly messages: ReceivedMail[];
  /** Answer every message with this 5xx (or 4xx) reply instead of accepting it; null accepts. */
  rejectWith: { code: number; message: string } | null;
  /** Resolves once `count` messages have been accepted in all; rejects after `timeoutMs`. */
  waitForCount(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** Listens on `port` (0: any free one) on loopback; plain SMTP unless `tls` is given, no authentication. */
export function startSmtpSink(port = 0, host = '127.0.0.1', tls?: SmtpSinkTls): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  const sink = {
    port,
    messages,
    rejectWith: null as SmtpSink['rejectWith'],
    waitForCount(count: number, timeoutMs = 60_000): Promise<ReceivedMail[]> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(messages.slice(0, count));
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${messages.length} of ${count} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    authOptional: true,
    // Plain SMTP on loopback unless TLS is asked for (test/security/tls.test.ts).
    disabledCommands: tls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    ...(tls ? { key: tls.key, cert: tls.cert, secure: tls.secure } : {}),
    logger: false,
    closeTimeout: 1000,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (sink.rejectWith) {
          callback(Object.assign(new Error(sink.rejectWith.message), { responseCode: sink.rejectWith.code }));
          return;
        }
        messages.push({ raw: Buffer.concat(chunks).toString('utf8'), receivedAt: Date.now(), envelopeTo: session.envelope.rcptTo.map((r) => r.address), secure: session.secure });
        callback();
        for (const w of [...waiters]) w();
      });
    },
  });
  // smtp-server re-emits connection errors on the server and throws them when nobody listens:
  // a client killed mid-message (the crash tests kill the node) reset the test process too.
  server.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => {
      server.server.off('error', reject);
      const address = server.server.address();
      sink.port = typeof address === 'object' && address ? address.port : port;
      resolve(sink);
    });
  });
}
