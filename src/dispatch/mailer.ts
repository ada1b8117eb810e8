import nodemailer from 'nodemailer';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Delivery } from './retry.js';

export interface MailMessage {
  subject: string;
  text: string;
  html: string;
  attachments?: Array<{ filename: string; content: Buffer; cid?: string; contentType?: string }>;
}

export type EmailConfig = Config['email'];

/** SMTP with STARTTLS (secure false, upgraded when offered or required) or implicit TLS. */
export function createMailer(email: EmailConfig): (message: MailMessage) => Promise<Delivery> {
  const transport = nodemailer.createTransport({
    host: email.smtp.host,
    port: email.smtp.port,
    secure: email.smtp.secure,
    requireTLS: email.smtp.requireTls,
    auth: email.smtp.user ? { user: email.smtp.user, pass: email.smtp.pass } : undefined,
    tls: { rejectUnauthorized: email.smtp.rejectUnauthorized },
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 30_000,
  });
  return async (message) => {
    try {
      const info = await transport.sendMail({ from: email.from, to: [...email.to], ...message });
      return info.rejected.length > 0 && info.accepted.length === 0
        ? { ok: false, transient: false, error: `smtp: every recipient was refused (${info.rejected.join(", ")})`, status: null }
        : { ok: true, status: null };
    } catch (err) {
      return smtpFailure(err);
    }
  };
}

/**
 * 5xx replies refuse the message for good; 4xx replies, network errors and TLS failures are
 * retried. A server that answers STARTTLS with 500 (it offers no TLS today) is a TLS failure,
 * not a refusal of the message: with requireTls the urgent email was failed after one attempt.
 */
export function smtpFailure(err: unknown): Delivery {
  const { responseCode: code, code: kind } = err as { responseCode?: number; code?: string };
  const error = `smtp: ${errorMessage(err).split('\n')[0]}`;
  if (code !== undefined && code >= 500 && kind !== 'ETLS') return { ok: false, transient: false, error, status: code };
  return { ok: false, transient: true, error, status: code ?? null };
}
