// A throw-away PKI for the TLS tests, made with openssl: a CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed, and a "rogue" client certificate signed by another CA.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runTool } from '../helpers/dcmtk.js';

export interface KeyPair {
  key: string;
  cert: string;
}

export interface Pki {
  /** The test CA's certificate (PEM). */
  ca: string;
  server: KeyPair;
  client: KeyPair;
  /** Signed by a CA nobody trusts. */
  rogue: KeyPair;
}

async function openssl(args: string[]): Promise<void> {
  const r = await runTool('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (${r.code}): ${r.output}`);
}

/** RSA keys: dcmtk's default TLS profile (BCP 195) and Node both take them. */
export async function makePki(dir: string): Promise<Pki> {
  const f = (name: string) => path.join(dir, name);
  const rsa = ['-newkey', 'rsa:2048', '-nodes'];
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const ca of ['ca', 'rogue-ca']) {
    await openssl(['req', '-x509', ...rsa, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.crt`), '-days', '2', '-subj', `/CN=ich-triage test ${ca}`]);
  }
  const leaf = async (name: string, subject: string, ca: string, ext: string) => {
    await openssl(['req', ...rsa, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject]);
    await openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.crt`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(ext)]);
    return { key: f(`${name}.key`), cert: f(`${name}.crt`) };
  };
  return {
    ca: f('ca.crt'),
    server: await leaf('server', '/CN=localhost', 'ca', 'server.ext'),
    client: await leaf('client', '/CN=STORESCU', 'ca', 'client.ext'),
    rogue: await leaf('rogue', '/CN=STORESCU', 'rogue-ca', 'client.ext'),
  };
}
