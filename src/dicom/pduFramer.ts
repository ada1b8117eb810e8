import { CommandField, noDataSet, parseCommand, type CommandFields } from './commandSet.js';
import { pDataPdu, PduType, pduHeaderLength, pdvHeaderLength } from './upperLayer.js';

/**
 * Splits the byte stream of an association into PDUs (PS3.8 9.3) and takes C-STORE out of
 * dcmjs-dimse's hands: the command is parsed here and its data set streams to its destination
 * as slices of the socket's read buffer, never reassembled in memory. dcmjs-dimse keeps the rest
 * of the protocol: association, release and abort PDUs, and every other command, reach it
 * unchanged (`forward`). Every length field is checked against a limit before anything is
 * buffered. The read buffer is reused for the next read: what outlives a push (a PDU or command
 * set in parts) is copied. Data set fragments are passed on once per read, together.
 */

export interface FramerLimits {
  /** Longest P-DATA-TF PDU accepted (the max PDU length we announced, plus tolerance). */
  maxDataPdu: number;
  /** Longest association, release or abort PDU. */
  maxControlPdu: number;
  /** Longest command set. */
  maxCommand: number;
}

export interface StoreCommand {
  presentationContextId: number;
  messageId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  /** False for a C-STORE-RQ that announces no data set (CommandDataSetType 0x0101). */
  hasDataSet: boolean;
}

export interface FramerHandlers {
  /** A whole PDU for dcmjs-dimse. */
  forward(pdu: Buffer): void;
  /** A C-STORE-RQ arrived; when it has a data set, its bytes follow through storeData. */
  storeBegin(command: StoreCommand): void;
  /**
   * The next bytes of the current C-STORE data set, in order: the fragments one socket read
   * carried (so that they can go to a file in one system call), valid until the call returns.
   */
  storeData(parts: readonly Buffer[]): void;
  /** The last fragment of the current data set has passed. */
  storeEnd(): void;
  /** The peer broke the protocol or a limit: the association must be dropped. */
  violation(reason: string): void;
}

const enum State {
  PduHeader,
  ControlBody,
  PdvHeader,
  PdvValue,
  Stopped,
}

export class PduFramer {
  private state = State.PduHeader;
  private header: Buffer = Buffer.alloc(0);
  private body: Buffer[] = [];
  private bodyLength = 0;
  private pduType = 0;
  /** Bytes left in the current PDU (P-DATA-TF) or its body (others). */
  private pduRemaining = 0;
  private pdvRemaining = 0;
  private pdvContext = 0;
  private pdvControl = 0;
  private commandParts: Buffer[] = [];
  /** Fragments of the current data set in the read being pushed, not yet passed on. */
  private readonly dataParts: Buffer[] = [];
  private commandLength = 0;
  private store: StoreCommand | undefined;
  /** An A-ASSOCIATE-RQ has been passed on: the association exists or is being negotiated. */
  private associationRequested = false;

  constructor(
    private readonly limits: FramerLimits,
    private readonly handlers: FramerHandlers,
  ) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && this.state !== State.Stopped) {
      switch (this.state) {
        case State.PduHeader:
        case State.PdvHeader: {
          const want = (this.state === State.PduHeader ? pduHeaderLength : pdvHeaderLength) - this.header.length;
          const take = Math.min(want, chunk.length - offset);
          this.header = this.header.length === 0 && take === want
            ? chunk.subarray(offset, offset + take)
            : Buffer.concat([this.header, chunk.subarray(offset, offset + take)]);
          offset += take;
          if (take === want) {
            const header = this.header;
            this.header = Buffer.alloc(0);
            if (this.state === State.PduHeader) this.startPdu(header);
            else this.startPdv(header);
          }
          break;
        }
        case State.ControlBody: {
          const take = Math.min(this.pduRemaining, chunk.length - offset);
          this.body.push(Buffer.from(chunk.subarray(offset, offset + take)));
          this.bodyLength += take;
          this.pduRemaining -= take;
          offset += take;
          if (this.pduRemaining === 0) {
            this.state = State.PduHeader;
            this.handlers.forward(Buffer.concat(this.body, this.bodyLength));
            this.body = [];
            this.bodyLength = 0;
          }
          break;
        }
        case State.PdvValue: {
          const take = Math.min(this.pdvRemaining, chunk.length - offset);
          this.pdvBytes(chunk.subarray(offset, offset + take));
          this.pdvRemaining -= take;
          this.pduRemaining -= take;
          offset += take;
          if (this.pdvRemaining === 0) this.endPdv();
          break;
        }
      }
    }
    this.passData();
  }

  /**
   * What the stream stopped in the middle of, for a connection that closes there; undefined at
   * a PDU boundary or after a violation (already reported).
   */
  incomplete(): string | undefined {
    switch (this.state) {
      case State.PduHeader:
        return this.header.length > 0 ? `a PDU header (${this.header.length} of ${pduHeaderLength} bytes)` : undefined;
      case State.ControlBody:
        return `a PDU of type 0x${this.pduType.toString(16)} (${this.pduRemaining} bytes missing)`;
      case State.PdvHeader:
      case State.PdvValue:
        return `a P-DATA-TF PDU (${this.pduRemaining} bytes missing)`;
      default:
        return undefined;
    }
  }

  private startPdu(header: Buffer): void {
    this.pduType = header[0]!;
    const length = header.readUInt32BE(2);
    const outOfSequence = this.sequenceError(this.pduType);
    if (outOfSequence) return this.fail(outOfSequence);
    if (this.pduType === PduType.AssociateRQ) this.associationRequested = true;
    if (this.pduType === PduType.PDataTF) {
      if (length > this.limits.maxDataPdu) return this.fail(`P-DATA-TF PDU of ${length} bytes exceeds ${this.limits.maxDataPdu}`);
      this.pduRemaining = length;
      this.state = length === 0 ? State.PduHeader : State.PdvHeader;
      return;
    }
    if (length > this.limits.maxControlPdu) return this.fail(`PDU type 0x${this.pduType.toString(16)} of ${length} bytes exceeds ${this.limits.maxControlPdu}`);
    this.body = [Buffer.from(header)];
    this.bodyLength = header.length;
    this.pduRemaining = length;
    if (length === 0) {
      this.handlers.forward(Buffer.from(header));
      this.body = [];
      this.bodyLength = 0;
      return;
    }
    this.state = State.ControlBody;
  }

  /**
   * PDUs an SCP may receive in its state (PS3.8 9.2, state table): before the A-ASSOCIATE-RQ
   * only that or an A-ABORT; never a second request, nor answers to requests an SCP does not
   * make (dcmjs-dimse answered a second A-ASSOCIATE-RQ with another AC, an early A-RELEASE-RQ
   * with an RP).
   */
  private sequenceError(type: number): string | undefined {
    const name = `PDU type 0x${type.toString(16).padStart(2, '0')}`;
    if (type < PduType.AssociateRQ || type > PduType.Abort) return `unknown ${name}`;
    if (!this.associationRequested && type !== PduType.AssociateRQ && type !== PduType.Abort) return `${name} before an A-ASSOCIATE-RQ`;
    if (this.associationRequested && type === PduType.AssociateRQ) return 'a second A-ASSOCIATE-RQ on the association';
    if (type === PduType.AssociateAC || type === PduType.AssociateRJ || type === PduType.ReleaseRP) return `${name} answers a request an SCP never makes`;
    return undefined;
  }

  private startPdv(header: Buffer): void {
    const itemLength = header.readUInt32BE(0);
    this.pdvContext = header[4]!;
    this.pdvControl = header[5]!;
    this.pduRemaining -= pdvHeaderLength;
    // The item length counts the context id and control header bytes (PS3.8 9.3.5.1).
    if (itemLength < 2 || itemLength - 2 > this.pduRemaining) return this.fail(`PDV item length ${itemLength} does not fit its PDU`);
    this.pdvRemaining = itemLength - 2;
    const isCommand = (this.pdvControl & 0x01) !== 0;
    if (isCommand && this.store) return this.fail('command before the data set of the C-STORE in progress was complete');
    if (isCommand && this.commandLength + this.pdvRemaining > this.limits.maxCommand) return this.fail('command set too long');
    if (!isCommand && !this.store) return this.fail('data set fragment without a C-STORE request');
    if (!isCommand && this.store!.presentationContextId !== this.pdvContext) return this.fail('data set fragment on another presentation context');
    this.state = State.PdvValue;
    if (this.pdvRemaining === 0) this.endPdv();
  }

  private pdvBytes(bytes: Buffer): void {
    if (this.pdvControl & 0x01) {
      this.commandParts.push(Buffer.from(bytes));
      this.commandLength += bytes.length;
    } else if (bytes.length > 0) {
      this.dataParts.push(bytes);
    }
  }

  private endPdv(): void {
    const last = (this.pdvControl & 0x02) !== 0;
    if (this.pdvControl & 0x01) {
      if (last) this.endCommand();
    } else if (last) {
      this.store = undefined;
      this.passData();
      this.handlers.storeEnd();
    }
    if (this.state === State.Stopped) return;
    this.state = this.pduRemaining > 0 ? State.PdvHeader : State.PduHeader;
  }

  private endCommand(): void {
    const command = Buffer.concat(this.commandParts, this.commandLength);
    this.commandParts = [];
    this.commandLength = 0;
    let fields: CommandFields;
    try {
      fields = parseCommand(command);
    } catch (err) {
      return this.fail(`malformed command set: ${(err as Error).message}`);
    }
    if (fields.commandField === CommandField.CEchoRQ) {
      this.handlers.forward(pDataPdu(this.pdvContext, 0x03, command));
      return;
    }
    // No other service is negotiated (PS3.7): dcmjs-dimse ignored unknown command fields
    // without a word and answered others with defaults.
    if (fields.commandField !== CommandField.CStoreRQ) {
      const field = fields.commandField === undefined ? 'no CommandField' : `CommandField 0x${fields.commandField.toString(16).padStart(4, '0')}`;
      return this.fail(`command with ${field}: this SCP performs C-STORE and C-ECHO only`);
    }
    const store: StoreCommand = {
      presentationContextId: this.pdvContext,
      messageId: fields.messageId ?? 0,
      sopClassUid: fields.affectedSopClassUid ?? '',
      sopInstanceUid: fields.affectedSopInstanceUid ?? '',
      hasDataSet: fields.dataSetType !== noDataSet,
    };
    if (store.hasDataSet) this.store = store;
    this.handlers.storeBegin(store);
  }

  private passData(): void {
    // Empty after a violation too: fail() drops what the read had gathered.
    if (this.dataParts.length === 0) return;
    this.handlers.storeData(this.dataParts);
    this.dataParts.length = 0;
  }

  private fail(reason: string): void {
    this.state = State.Stopped;
    this.dataParts.length = 0;
    this.handlers.violation(reason);
  }
}
