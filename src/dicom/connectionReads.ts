import net from 'node:net';

/**
 * Hands each read of an accepted connection to `onBytes`. The bytes are valid until it returns:
 * a plain TCP connection reads into `buffer` every time.
 *
 * A socket's 'data' events cost a fresh 64 KiB buffer and a pass through the stream machinery
 * per read: receiving 300 slices of 512x512 took 160 ms of CPU that way, 35-41 ms through Node's
 * `onread` (fewer, larger reads into the same memory), 0.4 ms of the ~1.9 ms the main thread
 * spends on a slice (ingest A/B: 473 -> 565 instances/s). Node gives `onread` only to sockets
 * made with it, not to those a server accepts, so the accepted socket, paused on connect
 * (nothing read yet), gives its handle (`_handle`, private) to a socket made with `onread`. The
 * accepted one keeps only the server's count of connections, released when the new one closes.
 * TLS decrypts through its own stream and keeps 'data'.
 */
export function readConnection(accepted: net.Socket, buffer: Buffer, onBytes: (bytes: Buffer) => void): net.Socket {
  const raw = accepted as unknown as { _handle: unknown };
  if (accepted.constructor !== net.Socket || !raw._handle) {
    // Paused on connect when the server is plain TCP.
    accepted.on('data', onBytes).resume();
    return accepted;
  }
  const options = {
    handle: raw._handle,
    onread: { buffer, callback: (length: number) => void onBytes(buffer.subarray(0, length)) },
  };
  const socket = new net.Socket(options as net.SocketConstructorOpts);
  socket.once('close', () => {
    // The handle is closed: the accepted socket only has the server's count to give back.
    raw._handle = null;
    accepted.destroy();
  });
  return socket;
}
