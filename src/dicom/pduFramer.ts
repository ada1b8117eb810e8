/**
 * Splits the byte stream of an association into PDUs (PS3.8 9.3) and streams C-STORE data
 * sets straight to their destination without reassembling them in memory.
 *
 * dcmjs-dimse keeps the protocol: association, release and abort PDUs, and the command PDVs,
 * reach it unchanged (`forward`). The data PDVs of a C-STORE go to `storeData` as slices of
 * the socket's own buffers; when the last one has passed, dcmjs-dimse receives an empty last
 * fragment so that its state machine completes the request as usual. Every length field is
 * checked against a limit before anything is buffered.
 */

const PduType = { AssociateRQ: 0x01, PDataTF: 0x04 } as const;
const pduHeaderLength = 6;
const pdvHeaderLength = 6;

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
}

export interface FramerHandlers {
  /** A whole PDU for dcmjs-dimse. */
  forward(pdu: Buffer): void;
  /** A C-STORE-RQ with a data set was announced; its data PDVs follow. */
  storeBegin(command: StoreCommand): void;
  /** Bytes of the current C-STORE data set, in order. */
  storeData(bytes: Buffer): void;
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
  private commandLength = 0;
  private store: StoreCommand | undefined;

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
          this.body.push(chunk.subarray(offset, offset + take));
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
  }

  private startPdu(header: Buffer): void {
    this.pduType = header[0]!;
    const length = header.readUInt32BE(2);
    if (this.pduType === PduType.PDataTF) {
      if (length > this.limits.maxDataPdu) return this.fail(`P-DATA-TF PDU of ${length} bytes exceeds ${this.limits.maxDataPdu}`);
      this.pduRemaining = length;
      this.state = length === 0 ? State.PduHeader : State.PdvHeader;
      return;
    }
    if (this.pduType < PduType.AssociateRQ || this.pduType > 0x07) return this.fail(`unknown PDU type 0x${this.pduType.toString(16)}`);
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

  private startPdv(header: Buffer): void {
    const itemLength = header.readUInt32BE(0);
    this.pdvContext = header[4]!;
    this.pdvControl = header[5]!;
    this.pduRemaining -= pdvHeaderLength;
    // The item length counts the context id and control header bytes (PS3.8 9.3.5.1).
    if (itemLength < 2 || itemLength - 2 > this.pduRemaining) return this.fail(`PDV item length ${itemLength} does not fit its PDU`);
    this.pdvRemaining = itemLength - 2;
    const isCommand = (this.pdvControl & 0x01) !== 0;
    if (isCommand && this.commandLength + this.pdvRemaining > this.limits.maxCommand) return this.fail('command set too long');
    if (!isCommand && !this.store) return this.fail('data set fragment without a C-STORE request');
    if (!isCommand && this.store!.presentationContextId !== this.pdvContext) return this.fail('data set fragment on another presentation context');
    this.state = State.PdvValue;
    if (this.pdvRemaining === 0) this.endPdv();
  }

  private pdvBytes(bytes: Buffer): void {
    if (this.pdvControl & 0x01) {
      this.commandParts.push(bytes);
      this.commandLength += bytes.length;
    } else if (bytes.length > 0) {
      this.handlers.storeData(bytes);
    }
  }

  private endPdv(): void {
    const last = (this.pdvControl & 0x02) !== 0;
    if (this.pdvControl & 0x01) {
      if (last) this.endCommand();
    } else if (last) {
      this.store = undefined;
      this.handlers.forward(pDataPdu(this.pdvContext, 0x02, Buffer.alloc(0)));
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
    this.handlers.forward(pDataPdu(this.pdvContext, 0x03, command));
    if (fields.commandField === CommandField.CStoreRQ && fields.dataSetType !== noDataSet) {
      this.store = {
        presentationContextId: this.pdvContext,
        messageId: fields.messageId ?? 0,
        sopClassUid: fields.affectedSopClassUid ?? '',
        sopInstanceUid: fields.affectedSopInstanceUid ?? '',
      };
      this.handlers.storeBegin(this.store);
    }
  }

  private fail(reason: string): void {
    this.state = State.Stopped;
    this.handlers.violation(reason);
  }
}

const CommandField = { CStoreRQ: 0x0001 } as const;
/** CommandDataSetType value meaning "no data set" (PS3.7 E.1). */
const noDataSet = 0x0101;

interface CommandFields {
  commandField?: number;
  messageId?: number;
  dataSetType?: number;
  affectedSopClassUid?: string;
  affectedSopInstanceUid?: string;
}

/** Reads the few group 0000 elements we route on; commands are Implicit VR LE (PS3.7 6.3.1). */
export function parseCommand(command: Buffer): CommandFields {
  const fields: CommandFields = {};
  let offset = 0;
  while (offset + 8 <= command.length) {
    const group = command.readUInt16LE(offset);
    const element = command.readUInt16LE(offset + 2);
    const length = command.readUInt32LE(offset + 4);
    offset += 8;
    if (group !== 0x0000) throw new Error(`element (${group.toString(16)},${element.toString(16)}) outside group 0000`);
    if (offset + length > command.length) throw new Error(`element (0000,${element.toString(16)}) overruns the command set`);
    const value = command.subarray(offset, offset + length);
    offset += length;
    switch (element) {
      case 0x0002:
        fields.affectedSopClassUid = uid(value);
        break;
      case 0x0100:
        fields.commandField = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case 0x0110:
        fields.messageId = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case 0x0800:
        fields.dataSetType = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case 0x1000:
        fields.affectedSopInstanceUid = uid(value);
        break;
    }
  }
  if (offset !== command.length) throw new Error('trailing bytes after the last element');
  return fields;
}

function uid(value: Buffer): string {
  return value.toString('latin1').replace(/[\0 ]+$/, '');
}

/** A P-DATA-TF PDU holding one PDV. */
export function pDataPdu(presentationContextId: number, control: number, value: Buffer): Buffer {
  const pdu = Buffer.alloc(pduHeaderLength + pdvHeaderLength + value.length);
  pdu[0] = PduType.PDataTF;
  pdu.writeUInt32BE(pdvHeaderLength + value.length, 2);
  pdu.writeUInt32BE(value.length + 2, 6);
  pdu[10] = presentationContextId;
  pdu[11] = control;
  value.copy(pdu, 12);
  return pdu;
}
