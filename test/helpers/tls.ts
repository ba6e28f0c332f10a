/**
 * TLS for integration tests: self-signed certificates made with openssl, and one HTTPS request naming a host
 * by SNI, with the certificate the server offered.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { Test } from 'tap';
import { startCulm, type CulmInstance } from './culm.js';
import type { MarathonEmulator } from './marathon-emulator.js';
import { freePort, type Backend } from './net.js';
import { requireBinary } from './processes.js';

/** A PEM file (certificate, then key) for `cn`, at `file`; `.crt` and `.key` beside it. */
export function makeCert(file: string, cn: string): void {
  requireBinary('openssl', 'apt-get install -y openssl');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.crt`, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  writeFileSync(file, readFileSync(`${file}.crt`, 'utf8') + readFileSync(`${file}.key`, 'utf8'));
}

export interface HttpsAnswer {
  /** The certificate's CN, and its SHA-256 fingerprint. */
  cn: string;
  fingerprint: string;
  /** The protocol ALPN settled on (false: none). */
  alpn: string | false;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request over TLS naming `servername` (SNI), offering `alpn` if given: the certificate and the answer. */
export function httpsRequest(port: number, servername: string, host: string, path = '/', o: { address?: string; alpn?: string[] } = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsGet({
      host: o.address ?? '127.0.0.1', port, path, servername, headers: { Host: host, Connection: 'close' }, rejectUnauthorized: false, agent: false, timeout: 5000,
      ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
    }, (res) => {
      const socket = res.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      const cn = String(peer.subject?.CN ?? '');
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ cn, fingerprint: peer.fingerprint256, alpn: socket.alpnProtocol ?? false, status: res.statusCode ?? 0, headers: res.headers, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error('HTTPS request timed out')));
    req.on('error', reject);
  });
}

/**
 * culm on `marathon` with an HTTPS frontend on a free port whose default certificate is `<certs>/edge.pem`; the
 * test's teardown stops culm, the emulator and the backends, and removes `certs`. Not ready yet: the caller waits.
 */
export async function startTlsCulm(t: Test, marathon: MarathonEmulator, certs: string, backends: Record<string, Backend>, env: Record<string, string>): Promise<{ culm: CulmInstance; httpsPort: number }> {
  const httpsPort = await freePort();
  const culm = await startCulm({
    marathon: marathon.url,
    env: { CULM_EVENT_MODE: 'sse', HAPROXY_SSL_CERTS: join(certs, 'edge.pem'), HAPROXY_HTTPS_BIND: `127.0.0.1:${httpsPort}`, ...env },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(Object.values(backends).map((x) => x.close()));
    rmSync(certs, { recursive: true, force: true });
  });
  return { culm, httpsPort };
}
