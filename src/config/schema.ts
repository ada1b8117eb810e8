import { z } from 'zod';
import { compilePattern } from '../series/selection.js';
import { callerRuleProblem, parseCallerRule } from '../dicom/allowList.js';
import { threadPriorities } from '../util/threadPriority.js';

// AE titles: 1-16 characters of the default repertoire, no backslash (PS3.5 6.2, VR AE).
const aeTitle = z
  .string()
  .min(1)
  .max(16)
  .regex(/^[\x20-\x5b\x5d-\x7e]+$/, 'AE titles use printable ASCII without backslash')
  .refine((s) => s.trim().length > 0, 'AE title must not be blank');
/** An allow-list entry: an AE title, optionally bound to an IP address ("CT1@10.0.0.5"). */
const callingAeEntry = z.string().superRefine((entry, ctx) => {
  const problem = callerRuleProblem(entry);
  if (problem) return void ctx.addIssue({ code: 'custom', message: problem });
  const result = aeTitle.safeParse(parseCallerRule(entry).aeTitle);
  for (const issue of result.error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message });
});
const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

const tls = z
  .object({
    enabled: z.boolean().default(false),
    cert: z.string().default(''),
    key: z.string().default(''),
    ca: z.string().default(''),
    requireClientCert: z.boolean().default(false),
  })
  .strict()
  .refine((t) => !t.enabled || (t.cert !== '' && t.key !== ''), {
    message: 'TLS needs cert and key when enabled',
  });

const dicom = z
  .object({
    aeTitle: aeTitle.default('ICH_TRIAGE'),
    host: host.default('0.0.0.0'),
    port: port.default(11112),
    /**
     * Empty: any calling AE title is accepted. Entries "AE" (from any address) or "AE@IP"
     * (only from that address), see src/dicom/allowList.ts.
     */
    allowedCallingAeTitles: z.array(callingAeEntry).default([]),
    /** Empty: any source address. Otherwise the peer's IP must be listed (whatever its AE title). */
    allowedCallingHosts: z.array(z.string().min(1)).default([]),
    maxAssociations: z.number().int().min(1).max(1024).default(16),
    maxPduLength: z.number().int().min(4096).max(4 * 1024 * 1024).default(131072),
    /** Accept lossless compressed transfer syntaxes before uncompressed ones (src/dicom/uids.ts). */
    preferCompressed: z.boolean().default(false),
    /** Seconds an association may stay idle (ARTIM and DIMSE idle). */
    associationTimeoutSeconds: z.number().positive().default(60),
    /** Seconds SIGTERM waits for in-flight associations before closing them. */
    drainSeconds: z.number().nonnegative().default(10),
    tls: tls.default({ enabled: false, cert: '', key: '', ca: '', requireClientCert: false }),
  })
  .strict();

const storage = z
  .object({
    dataDir: z.string().min(1).default('../var'),
    /**
     * write: the spool file is written and renamed before the ack, which survives a crash or
     * kill -9 of the node (the page cache belongs to the kernel); fsync: also flushed to the
     * disk before the ack, which survives power loss at ~10 ms per instance.
     */
    durability: z.enum(['write', 'fsync']).default('write'),
    retainHours: z.number().nonnegative().default(24),
    retainDays: z.number().nonnegative().default(30),
    minFreeMb: z.number().nonnegative().default(1024),
  })
  .strict();

export const providerNames = ['cpu', 'webgpu', 'cuda'] as const;
export type ProviderName = (typeof providerNames)[number];
const provider = z.enum(providerNames);

const model = z
  .object({
    path: z.string().min(1),
    /** One provider, or an ordered list tried in turn. */
    executionProvider: z
      .union([provider, z.array(provider).min(1)], { error: (i) => `expected ${providerNames.join(', ')} or a non-empty list of them, got ${JSON.stringify(i.input)}` })
      .default('cpu'),
    /** With a single GPU provider: fall back to CPU (with a warning) when it cannot start. */
    fallbackToCpu: z.boolean().default(false),
    /** Intra-op threads per session; 0: all cores. */
    threads: z.number().int().min(0).default(0),
    /** Slices per session.run; 0: chosen per provider (cpu 4, GPUs 32). */
    batchSize: z.number().int().min(0).max(1024).default(0),
    /** The GPU's index for cuda, counted after CUDA_VISIBLE_DEVICES; the bound catches a PCI bus number typed instead. */
    deviceId: z.number().int().min(0).max(63).default(0),
    /** Workers that only decode and preprocess; 0: chosen per provider (cpu none, GPUs cores - 1 up to 8). */
    preprocessWorkers: z.number().int().min(0).max(64).default(0),
    /** Inference threads: idle (run only on cores nothing else wants), low (niceness 10) or normal. */
    workerPriority: z.enum(threadPriorities).default('idle'),
    /**
     * How long a transfer may hold classification back (ms); absent: 2000 where inference can
     * keep every core busy, else 0 (see holdWhileReceiving in src/pipeline/classifyStage.ts).
     */
    holdWhileReceivingMs: z.number().int().min(0).max(60_000).optional(),
    /** Per-class operating points overriding the model's own, e.g. {any: 0.3}. */
    thresholds: z.record(z.string(), z.number().min(0).max(1)).default({}),
  })
  .strict()
  .superRefine((m, ctx) => {
    const list = Array.isArray(m.executionProvider) ? m.executionProvider : [m.executionProvider];
    // A setting the node would silently ignore is refused, so the config says what runs.
    if (m.deviceId > 0 && list.includes('webgpu')) {
      ctx.addIssue({ code: 'custom', path: ['deviceId'], message: 'webgpu cannot pick a GPU by index (Dawn chooses the adapter); deviceId > 0 needs cuda without webgpu in executionProvider' });
    }
    if (Array.isArray(m.executionProvider) && m.fallbackToCpu && !list.includes('cpu')) {
      ctx.addIssue({ code: 'custom', path: ['fallbackToCpu'], message: 'with a list of providers the list is the fallback order: add cpu to executionProvider instead' });
    }
  });

function isPattern(p: string): boolean {
  try {
    compilePattern(p);
    return true;
  } catch {
    return false;
  }
}

const selection = z
  .object({
    modalities: z.array(z.string().min(1)).default(['CT']),
    /** Series whose slices are not axial within this many degrees are skipped. */
    maxTiltDegrees: z.number().min(0).max(90).default(30),
    minSlices: z.number().int().min(1).default(8),
    /** A series is skipped when any ImageType value matches (case-insensitive). */
    excludeImageTypes: z.array(z.string()).default(['LOCALIZER']),
    /** Regular expressions on SeriesDescription that exclude a series (e.g. "(?i)bone"). */
    excludeSeriesDescriptions: z.array(z.string().refine(isPattern, 'not a valid regular expression')).default([]),
    /** Skip series with ContrastBolusAgent present. */
    excludeContrast: z.boolean().default(false),
  })
  .strict();

const series = z
  .object({
    idleSeconds: z.number().positive().default(10),
    /** Weights of the z-smoothing kernel (odd length, normalised), or "none". */
    smoothing: z.union([z.literal('none'), z.array(z.number().nonnegative()).min(1)]).default([1, 2, 1]),
    selection: selection.default(selection.parse({})),
  })
  .strict();

const http = z
  .object({
    host: host.default('127.0.0.1'),
    port: port.default(8080),
  })
  .strict();

const logging = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    /** Log PatientName, PatientID and PatientBirthDate. Off by default. */
    phi: z.boolean().default(false),
  })
  .strict();

const outputKind = z.enum(['sr', 'kos']);
const destination = z
  .object({
    name: z.string().min(1),
    aeTitle,
    host,
    port: port.refine((p) => p > 0, 'port must be > 0'),
    callingAeTitle: aeTitle.optional(),
    send: z.array(outputKind).default(['sr', 'kos']),
    forward: z.boolean().default(false),
    tls: z.boolean().default(false),
  })
  .strict();

const email = z
  .object({
    enabled: z.boolean().default(false),
    smtp: z
      .object({
        host: host.default('127.0.0.1'),
        port: port.default(25),
        secure: z.boolean().default(false),
        user: z.string().default(''),
        pass: z.string().default(''),
        /** Refuse to send over an unencrypted connection (STARTTLS required when secure is false). */
        requireTls: z.boolean().default(false),
        /** Accept self-signed server certificates (test setups). */
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 25, secure: false, user: '', pass: '', requireTls: false, rejectUnauthorized: true }),
    from: z.string().min(3).default('ich-triage@hospital.example'),
    to: z.array(z.string().min(3)).default([]),
    onlyUrgent: z.boolean().default(true),
    /** Include patient name, ID and birth date in emails. Off by default. */
    includePhi: z.boolean().default(false),
    /** Attach a PNG thumbnail of the top key slice. */
    thumbnail: z.boolean().default(false),
  })
  .strict();

const reports = z
  .object({
    /** Root for generated UIDs; empty: 2.25 UUID-derived UIDs. */
    uidRoot: z
      .string()
      .regex(/^$|^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/, 'uidRoot must be empty or a dotted numeric UID root')
      .refine((s) => s.length <= 40, 'uidRoot must leave room for a suffix (at most 40 characters)')
      .default(''),
    institutionName: z.string().default(''),
  })
  .strict();

const dispatch = z
  .object({
    retry: z
      .object({
        initialSeconds: z.number().positive().default(5),
        maxSeconds: z.number().positive().default(900),
        maxAttempts: z.number().int().min(1).default(20),
      })
      .strict()
      .default({ initialSeconds: 5, maxSeconds: 900, maxAttempts: 20 }),
  })
  .strict();

const alerts = z
  .object({
    /** Email as soon as `slices` adjacent slices reach `threshold` on "any", before the series completes. */
    early: z.boolean().default(false),
    threshold: z.number().min(0).max(1).default(0.9),
    slices: z.number().int().min(1).default(2),
  })
  .strict();

export const configSchema = z
  .object({
    dicom: dicom.default(dicom.parse({})),
    storage: storage.default(storage.parse({})),
    model,
    series: series.default(series.parse({})),
    http: http.default(http.parse({})),
    logging: logging.default(logging.parse({})),
    destinations: z.array(destination).default([]),
    email: email.default(email.parse({})),
    reports: reports.default(reports.parse({})),
    dispatch: dispatch.default(dispatch.parse({})),
    alerts: alerts.default(alerts.parse({})),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.destinations.forEach((d, i) => {
      if (names.has(d.name)) {
        ctx.addIssue({ code: 'custom', path: ['destinations', i, 'name'], message: `duplicate destination name "${d.name}"` });
      }
      names.add(d.name);
    });
    if (c.email.enabled && c.email.to.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['email', 'to'], message: 'email is enabled but has no recipients' });
    }
    const k = c.series.smoothing;
    if (k !== 'none' && (k.length % 2 === 0 || k.reduce((a, b) => a + b, 0) <= 0)) {
      ctx.addIssue({ code: 'custom', path: ['series', 'smoothing'], message: 'kernel needs an odd number of weights with a positive sum' });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type Destination = Config['destinations'][number];
