/**
 * TLS for integration tests: self-signed certificates made with openssl, and one HTTPS request naming a host
 * by SNI, with the certificate the server offered.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import type { TLSSocket } from 'node:tls';
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
