/** Certificates made with openssl, and HTTPS requests naming a host (SNI), for the TLS tests. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** A self-signed certificate and its key in one PEM file, for `cn` (the key and certificate also beside it). */
export function makeCert(file: string, cn: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.crt`, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  writeFileSync(file, readFileSync(`${file}.crt`, 'utf8') + readFileSync(`${file}.key`, 'utf8'));
}

/** One HTTPS request over TLS naming `servername` (SNI): the certificate's CN, and the HTTP answer. */
export function httpsRequest(port: number, servername: string, host: string, path = '/'): Promise<{ cn: string; fingerprint: string; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet({ host: '127.0.0.1', port, path, servername, headers: { Host: host, Connection: 'close' }, rejectUnauthorized: false, agent: false, timeout: 5000 }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      const cn = String(peer.subject?.CN ?? '');
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ cn, fingerprint: peer.fingerprint256, status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error('HTTPS request timed out')));
    req.on('error', reject);
  });
}
