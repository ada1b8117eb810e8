import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/**
 * What dcmjs-dimse takes for its socket: writes and timeouts go to the real one, and 'data'
 * carries only the PDUs the framer hands over.
 */
export class SocketFacade extends EventEmitter {
  constructor(private readonly socket: Socket) {
    super();
    for (const event of ['connect', 'error', 'timeout', 'close', 'end']) {
      socket.on(event, (...args: unknown[]) => this.emit(event, ...args));
    }
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get writable(): boolean {
    return this.socket.writable;
  }

  write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  setTimeout(ms: number): this {
    this.socket.setTimeout(ms);
    return this;
  }

  end(): this {
    this.socket.end();
    return this;
  }

  destroy(): this {
    this.socket.destroy();
    return this;
  }
}
