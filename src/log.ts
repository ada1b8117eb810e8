import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Keys that identify a patient: censored in every log line unless logging.phi is true. */
export const phiKeys = ['PatientName', 'PatientID', 'PatientBirthDate', 'patientName', 'patientId', 'patientBirthDate'];

export interface LogOptions {
  level: string;
  phi: boolean;
}

export function createLogger(opts: LogOptions, destination?: DestinationStream): Logger {
  const redact = opts.phi ? [] : [...phiKeys, ...phiKeys.map((k) => `*.${k}`)];
  return pino(
    {
      level: opts.level,
      base: { app: 'ich-triage' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redact, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
