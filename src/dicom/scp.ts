import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import dimse from './dimse.js';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import { DicomStatus, statusName, type StoreOutcome } from './status.js';
import { implementationClassUid, implementationVersionName, SopClass, storageSopClassPrefix, TransferSyntax, transferSyntaxPreference } from './uids.js';
import { PduFramer, type StoreCommand } from './pduFramer.js';
import { pDataPdu } from './upperLayer.js';
import { cStoreResponse } from './commandSet.js';
import { SocketFacade } from './socketFacade.js';
import { readConnection } from './connectionReads.js';
import { checkCaller, normaliseAddress, parseCallerRule } from './allowList.js';

const { Scp, Implementation, constants, responses } = dimse;
const { PresentationContextResult, RejectResult, RejectSource, RejectReason, AbortSource, AbortReason } = constants;
type Association = dimse.association.Association;
type CEchoRequest = dimse.requests.CEchoRequest;
type PresentationContext = dimse.association.PresentationContext;

/** Each association's socket reads into one buffer this long (see readConnection). */
const readBufferBytes = 256 * 1024;

export interface AssociationInfo {
  id: number;
  callingAe: string;
  calledAe: string;
  peerAddress: string;
}

export interface StoreRequestInfo {
  association: AssociationInfo;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
}

/** One C-STORE data set on its way in. */
export interface IncomingInstance {
  /**
   * Takes the data set's next bytes, in the accepted transfer syntax: the fragments of one
   * socket read, slices of its buffer, reused once this returns. Errors are kept for complete()
   * to answer.
   */
  write(parts: readonly Buffer[]): void;
  /** Data set bytes received so far. */
  readonly bytes: number;
  /** Called after the last byte: make the instance durable and say which status to answer. */
  complete(): Promise<StoreOutcome>;
  /** The association ended before the data set was complete: nothing was acknowledged. */
  discard(reason: string): void;
}

/** The one seam between the network and the rest of the node. */
export interface StoreHandler {
  begin(request: StoreRequestInfo): IncomingInstance;
  /** The SCP has stopped: no begin() follows. */
  close?(): Promise<void>;
}

export interface ScpOptions {
  aeTitle: string;
  host: string;
  port: number;
  /** Entries "AE" or "AE@address" (src/dicom/allowList.ts); empty: any calling AE. */
  allowedCallingAeTitles: readonly string[];
  /** Empty: any source address; checked in addition to the per-AE addresses. */
  allowedCallingHosts: readonly string[];
  maxAssociations: number;
  maxPduLength: number;
  timeoutSeconds: number;
  /** Lossless compressed transfer syntaxes before uncompressed ones (transferSyntaxPreference). */
  preferCompressed: boolean;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; requireClientCert: boolean };
}

export interface ScpEvents {
  /** `code` is a short label for metrics: protocol, called_ae, calling_ae, peer_address, limit. */
  associationRejected: [info: AssociationInfo, reason: string, code: string];
  associationAccepted: [info: AssociationInfo];
  associationClosed: [info: AssociationInfo, durationMs: number];
  stored: [info: StoreRequestInfo, outcome: StoreOutcome, bytes: number, durationMs: number];
  /** `peerPort` tells connections from one address apart in the log. */
  protocolError: [peerAddress: string, reason: string, peerPort?: number];
}

/**
 * A C-STORE SCP on dcmjs-dimse, bound to one host and port. It knows DICOM only: what happens
 * to an instance is the StoreHandler's business.
 */
export class DicomServer extends EventEmitter<ScpEvents> {
  private server: net.Server | undefined;
  private readonly live = new Set<IchScp>();
  private nextId = 1;

  constructor(
    private options: ScpOptions,
    private readonly handler: StoreHandler,
    private readonly log: Logger,
  ) {
    super();
  }

  get activeAssociations(): number {
    return this.live.size;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  address(): net.AddressInfo {
    return this.server!.address() as net.AddressInfo;
  }

  /** New associations use the new policy; those in flight keep theirs. */
  updatePolicy(options: Pick<ScpOptions, 'allowedCallingAeTitles' | 'allowedCallingHosts' | 'maxAssociations' | 'aeTitle' | 'preferCompressed'>): void {
    this.options = { ...this.options, ...options };
  }

  async listen(): Promise<void> {
    Implementation.setImplementationClassUid(implementationClassUid);
    Implementation.setImplementationVersion(implementationVersionName);
    Implementation.setMaxPduLength(this.options.maxPduLength);
    const onSocket = (socket: net.Socket) => this.accept(socket);
    const t = this.options.tls;
    this.server = t
      ? tls.createServer({ cert: t.cert, key: t.key, ca: t.ca, requestCert: t.requireClientCert, rejectUnauthorized: t.requireClientCert }, onSocket)
      : net.createServer({ pauseOnConnect: true }, onSocket);
    // A peer that hangs up mid-handshake leaves no address on the TLS socket: the TCP socket
    // under it (Node's `_parent`) keeps the one read here, when the connection came in.
    this.server.on('connection', (raw: net.Socket) => void raw.remotePort);
    this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      const raw = (socket as unknown as { _parent?: net.Socket })._parent;
      const reason = `TLS handshake failed: ${err.message.replace(/\s+$/, '')}`;
      this.emit('protocolError', socket.remoteAddress ?? raw?.remoteAddress ?? '?', reason, socket.remotePort ?? raw?.remotePort);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting, waits up to drainMs for associations to finish, then aborts the rest. */
  async close(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    const deadline = Date.now() + drainMs;
    while (this.live.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const scp of this.live) scp.abortNow('node shutting down');
    await closed;
    await this.handler.close?.();
  }

  private accept(accepted: net.Socket): void {
    // Reads go to the framer made below, once the association's objects exist.
    const socket = readConnection(accepted, Buffer.allocUnsafeSlow(readBufferBytes), (bytes) => framer.push(bytes));
    socket.setNoDelay(true);
    const peerAddress = socket.remoteAddress ?? '?';
    const peerPort = socket.remotePort;
    const timeoutMs = this.options.timeoutSeconds * 1000;
    // dcmjs-dimse sees the socket through a facade fed by our framer, which handles C-STORE
    // itself and checks every length field first.
    const facade = new SocketFacade(socket);
    const scp = new IchScp(facade, { connectTimeout: timeoutMs, associationTimeout: timeoutMs, pduTimeout: timeoutMs }, {
      server: this,
      id: this.nextId++,
      peerAddress,
      peerPort,
      options: this.options,
      handler: this.handler,
      log: this.log,
    });
    const framer = new PduFramer(
      { maxDataPdu: Math.max(this.options.maxPduLength, 4 * 1024 * 1024), maxControlPdu: 1024 * 1024, maxCommand: 64 * 1024 },
      {
        forward: (pdu) => {
          if (pdu[0] === 0x01 && pdu.length >= 8) scp.protocolVersion = pdu.readUInt16BE(6);
          facade.emit('data', pdu);
          if (pdu[0] === 0x07) scp.peerAborted(pdu[8] ?? 0, pdu[9] ?? 0);
        },
        storeBegin: (command) => scp.storeBegin(command),
        storeData: (parts) => scp.storeData(parts),
        storeEnd: () => scp.storeEnd(),
        violation: (reason) => {
          this.emit('protocolError', peerAddress, reason, peerPort);
          scp.abortNow(reason);
        },
      },
    );
    this.live.add(scp);
    scp.on('networkError', (err: Error) => {
      this.emit('protocolError', peerAddress, err.message, peerPort);
      socket.destroy();
    });
    socket.once('close', () => {
      this.live.delete(scp);
      // A peer that goes away mid-PDU (a truncated PDU, a length field claiming more) is said so.
      const incomplete = framer.incomplete();
      if (incomplete) this.emit('protocolError', peerAddress, `connection closed inside ${incomplete}`, peerPort);
      scp.closed();
    });
  }

  /** @internal for IchScp */
  countLive(): number {
    return this.live.size;
  }
}

interface ScpContext {
  server: DicomServer;
  id: number;
  peerAddress: string;
  peerPort: number | undefined;
  options: ScpOptions;
  handler: StoreHandler;
  log: Logger;
}

class IchScp extends Scp {
  // Set by dcmjs-dimse's Network base class, missing from its type declarations.
  declare association: Association | undefined;
  declare socket: SocketFacade;
  private info: AssociationInfo;
  /** The C-STORE whose data set is arriving (one operation at a time: no asynchronous operations negotiated). */
  private current: { instance: IncomingInstance; info: StoreRequestInfo; command: StoreCommand; started: number } | undefined;
  private readonly openedAt = Date.now();
  private accepted = false;
  /** Presentation context id -> its accepted transfer syntax (undefined: not accepted). */
  private readonly acceptedSyntaxes = new Map<number, string | undefined>();
  /** Of the A-ASSOCIATE-RQ, which dcmjs-dimse does not check (PS3.8 9.3.2: bit 0 set). */
  protocolVersion = 1;
  private log: Logger;

  constructor(socket: SocketFacade, opts: ConstructorParameters<typeof Scp>[1], private readonly ctx: ScpContext) {
    super(socket as unknown as net.Socket, opts);
    this.info = { id: ctx.id, callingAe: '', calledAe: '', peerAddress: ctx.peerAddress };
    this.log = ctx.log.child({ assoc: ctx.id, peer: ctx.peerAddress, port: ctx.peerPort });
  }

  override associationRequested(association: Association): void {
    this.association = association;
    this.info = {
      ...this.info,
      callingAe: association.getCallingAeTitle().trim(),
      calledAe: association.getCalledAeTitle().trim(),
    };
    this.log = this.log.child({ calling: this.info.callingAe, called: this.info.calledAe });
    const refusal = this.policyRefusal();
    if (refusal) {
      this.log.warn({ reason: refusal.reason }, 'association rejected');
      this.ctx.server.emit('associationRejected', this.info, refusal.reason, refusal.label);
      this.sendAssociationReject(refusal.result, refusal.source, refusal.code);
      // The requestor should close now (PS3.8 9.2.3); one that does not would hold its slot
      // until the timeout, so the connection ends once the reject is on its way.
      this.socket.end();
      return;
    }
    const storageOrder = transferSyntaxPreference(this.ctx.options.preferCompressed);
    for (const { id } of association.getPresentationContexts()) {
      negotiate(association.getPresentationContext(id), storageOrder);
    }
    this.accepted = true;
    this.log.info('association accepted');
    this.ctx.server.emit('associationAccepted', this.info);
    this.acceptWithOwnMaxPduLength(association);
  }

  /**
   * Each side announces the largest PDU it receives (PS3.8 D.1), independently of the other.
   * dcmjs-dimse would announce min(peer's, ours): a peer that receives 16 KiB PDUs would then
   * have to send us 16 KiB ones too. The association keeps the peer's value for what we send.
   */
  private acceptWithOwnMaxPduLength(association: Association): void {
    const peerMax = association.getMaxPduLength();
    association.setMaxPduLength(this.ctx.options.maxPduLength);
    this.sendAssociationAccept();
    if (peerMax > 0) association.setMaxPduLength(Math.min(peerMax, this.ctx.options.maxPduLength));
  }

  private policyRefusal(): { reason: string; label: string; result: number; source: number; code: number } | undefined {
    const o = this.ctx.options;
    const permanent = RejectResult.Permanent;
    if ((this.protocolVersion & 1) === 0) {
      return { reason: `protocol version 0x${this.protocolVersion.toString(16)} is not supported (bit 0 must be set)`, label: 'protocol', result: permanent, source: RejectSource.ServiceProviderAcse, code: RejectReason.ProtocolVersionNotSupported };
    }
    if (this.info.calledAe !== o.aeTitle) {
      return { reason: `called AE title "${this.info.calledAe}" is not ours`, label: 'called_ae', result: permanent, source: RejectSource.ServiceUser, code: RejectReason.CalledAeNotRecognized };
    }
    const caller = checkCaller(o.allowedCallingAeTitles.map(parseCallerRule), this.info.callingAe, this.info.peerAddress);
    if (caller !== 'allowed') {
      const reason = caller === 'unknown-ae' ? `calling AE title "${this.info.callingAe}" is not allowed` : `calling AE title "${this.info.callingAe}" is not allowed from ${normaliseAddress(this.info.peerAddress)}`;
      return { reason, label: 'calling_ae', result: permanent, source: RejectSource.ServiceUser, code: RejectReason.CallingAeNotRecognized };
    }
    if (o.allowedCallingHosts.length > 0 && !o.allowedCallingHosts.includes(normaliseAddress(this.info.peerAddress))) {
      return { reason: `peer address ${this.info.peerAddress} is not allowed`, label: 'peer_address', result: permanent, source: RejectSource.ServiceUser, code: RejectReason.NoReasonGiven };
    }
    // This association is already counted among the live ones.
    if (this.ctx.server.countLive() > o.maxAssociations) {
      return { reason: `association limit (${o.maxAssociations}) reached`, label: 'limit', result: RejectResult.Transient, source: RejectSource.ServiceProviderPresentation, code: RejectReason.LocalLimitExceeded };
    }
    return undefined;
  }

  /**
   * After A-RELEASE-RP the requestor closes (PS3.8 AR-3); the node ends its side too, as dcmtk's
   * storescp does, so that a requestor that never closes does not hold an association slot until
   * dicom.associationTimeoutSeconds.
   */
  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
    this.socket.end();
  }

  override cEchoRequest(request: CEchoRequest, callback: (response: dimse.responses.CEchoResponse) => void): void {
    const response = responses.CEchoResponse.fromRequest(request);
    response.setStatus(DicomStatus.Success);
    callback(response);
  }

  /** The framer saw a C-STORE-RQ: its data set starts streaming into a new instance. */
  storeBegin(command: StoreCommand): void {
    const transferSyntaxUid = this.acceptedSyntax(command.presentationContextId);
    if (!transferSyntaxUid) {
      const reason = `C-STORE on presentation context ${command.presentationContextId}, which was not accepted`;
      this.ctx.server.emit('protocolError', this.ctx.peerAddress, reason, this.ctx.peerPort);
      this.abortNow(reason);
      return;
    }
    const info: StoreRequestInfo = {
      association: this.info,
      sopClassUid: command.sopClassUid,
      sopInstanceUid: command.sopInstanceUid,
      transferSyntaxUid,
    };
    if (!command.hasDataSet) {
      this.respond(command, { status: DicomStatus.CannotUnderstand, comment: 'C-STORE request without a data set' });
      return;
    }
    this.current = { instance: this.ctx.handler.begin(info), info, command, started: Date.now() };
  }

  /** Looked up in dcmjs-dimse's association once per context: its lookups cost more than a Map's. */
  private acceptedSyntax(id: number): string | undefined {
    if (!this.accepted || !this.association) return undefined;
    if (!this.acceptedSyntaxes.has(id)) this.acceptedSyntaxes.set(id, acceptedTransferSyntax(this.association, id));
    return this.acceptedSyntaxes.get(id);
  }

  storeData(parts: readonly Buffer[]): void {
    this.current?.instance.write(parts);
  }

  /** The last byte arrived: make the instance durable, then answer. */
  storeEnd(): void {
    const entry = this.current;
    this.current = undefined;
    if (!entry) return;
    entry.instance
      .complete()
      .catch((err: unknown): StoreOutcome => ({ status: DicomStatus.ProcessingFailure, comment: errorMessage(err) }))
      .then((outcome) => {
        // The peer waits for this answer before it sends the next instance: answer first.
        this.respond(entry.command, outcome);
        const ms = Date.now() - entry.started;
        const bytes = entry.instance.bytes;
        const fields = { sop: entry.info.sopInstanceUid, status: statusName(outcome.status), bytes, ms };
        if (outcome.status === DicomStatus.Success) this.log.debug(fields, 'instance stored');
        else this.log.warn({ ...fields, reason: outcome.comment }, 'instance refused');
        this.ctx.server.emit('stored', entry.info, outcome, bytes, ms);
      });
  }

  /** C-STORE-RSP, written by us: dcmjs-dimse never saw the request. */
  private respond(command: StoreCommand, outcome: StoreOutcome): void {
    if (!this.socket.writable) return;
    const response = cStoreResponse({
      sopClassUid: command.sopClassUid,
      sopInstanceUid: command.sopInstanceUid,
      messageId: command.messageId,
      status: outcome.status,
      errorComment: outcome.status !== DicomStatus.Success ? outcome.comment : undefined,
    });
    this.socket.write(pDataPdu(command.presentationContextId, 0x03, response));
  }

  /**
   * The peer sent an A-ABORT (PS3.8 9.3.8): whatever it had not been answered for is its to
   * resend. The acceptor closes the connection (PS3.8 9.2.3, AA-3): the peer waits for that
   * (dcmtk for its 30 s ARTIM timeout), and the connection would hold an association slot until
   * dicom.associationTimeoutSeconds.
   */
  peerAborted(source: number, reason: number): void {
    this.log.warn({ reason: `A-ABORT from the peer (source ${source}, reason ${reason})` }, 'association aborted by the peer');
    this.socket.destroy();
  }

  /** Aborts the association at once (shutdown after the drain period). */
  abortNow(reason: string): void {
    this.log.warn({ reason }, 'association aborted');
    if (this.association) this.sendAbort(AbortSource.ServiceProvider, AbortReason.NotSpecified);
    this.socket.destroy();
  }

  /** The socket closed: anything not yet complete was never acknowledged. */
  closed(): void {
    // An instance still arriving was never acknowledged; completing ones finish on their own.
    if (this.current) {
      const reason = 'association closed before the data set was complete';
      this.log.warn({ sop: this.current.info.sopInstanceUid, reason }, 'incomplete instance discarded');
      this.current.instance.discard(reason);
      this.current = undefined;
    }
    if (this.accepted) {
      const ms = Date.now() - this.openedAt;
      this.log.info({ ms }, 'association closed');
      this.ctx.server.emit('associationClosed', this.info, ms);
    }
  }
}

/** Verification: uncompressed only. Storage: our preference order (`storageOrder`), not the proposal's. */
function negotiate(context: PresentationContext, storageOrder: readonly string[]): void {
  const abstract = context.getAbstractSyntaxUid();
  const proposed = context.getTransferSyntaxUids();
  let order: readonly string[];
  if (abstract === SopClass.Verification) {
    order = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];
  } else if (abstract.startsWith(storageSopClassPrefix)) {
    order = storageOrder;
  } else {
    context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
    return;
  }
  const chosen = order.find((ts) => proposed.includes(ts));
  if (chosen) context.setResult(PresentationContextResult.Accept, chosen);
  else context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
}

/** The transfer syntax of an accepted presentation context; undefined for any other id. */
function acceptedTransferSyntax(association: Association, id: number): string | undefined {
  // getPresentationContext throws on an id the peer never proposed.
  if (!association.getPresentationContexts().some((c) => c.id === id)) return undefined;
  const context = association.getPresentationContext(id);
  return context.getResult() === PresentationContextResult.Accept ? context.getAcceptedTransferSyntaxUid() : undefined;
}

