import type { OutboxRow } from '../store/outbox.js';
import type { EmailPayload } from './plan.js';
import type { Delivery } from './retry.js';
import type { EmailSender } from './dispatcher.js';
import { createMailer, type EmailConfig, type MailMessage } from './mailer.js';
import { renderEmail, renderEarlyAlertEmail } from '../reports/email.js';
import { errorMessage } from '../errors.js';

/**
 * Renders an email row at send time (so "seconds from last slice to alert" is the real one)
 * and sends it. The SMTP transport follows the config across reloads.
 */
export function createEmailSender(config: () => Readonly<EmailConfig>, thumbnail: (spoolPath: string) => Promise<Buffer | undefined>, now: () => number = Date.now): EmailSender {
  let transport: { key: string; send: (m: MailMessage) => Promise<Delivery> } | undefined;
  return async (row: OutboxRow): Promise<Delivery> => {
    const email = config();
    if (!email.enabled) return { ok: false, transient: false, error: 'email is disabled in the config', status: null };
    const key = JSON.stringify([email.smtp, email.from, email.to]);
    if (transport?.key !== key) transport = { key, send: createMailer(email) };
    let message: MailMessage;
    try {
      const payload = JSON.parse(row.payload ?? '') as EmailPayload;
      const png = payload.thumbnail ? await thumbnail(payload.thumbnail) : undefined;
      if (payload.kind === 'final') {
        const secondsToAlert = (now() - payload.result.timings.lastReceivedAt) / 1000;
        message = renderEmail(payload.result, payload.fields, { includePhi: email.includePhi, secondsToAlert, thumbnailPng: png });
      } else {
        message = renderEarlyAlertEmail(payload.alert, payload.fields, { includePhi: email.includePhi, secondsToAlert: (now() - row.createdAt) / 1000, thumbnailPng: png });
      }
    } catch (err) {
      return { ok: false, transient: false, error: `cannot render the email: ${errorMessage(err)}`, status: null };
    }
    return transport.send(message);
  };
}
