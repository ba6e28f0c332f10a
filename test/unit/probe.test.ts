/** The HEALTHCHECK's probe address from culm's bind address (issue 11): every interface → loopback, else itself. */
import t from 'tap';
import { probeBase } from '../../src/http/probe.js';

t.test('bind → probe address', async (t) => {
  const cases: Array<[string, number, string, string]> = [
    ['', 8000, 'http://127.0.0.1:8000', ':8000 (all interfaces)'],
    ['0.0.0.0', 18000, 'http://127.0.0.1:18000', '0.0.0.0'],
    ['*', 1, 'http://127.0.0.1:1', '*'],
    ['::', 8000, 'http://[::1]:8000', '[::] (all IPv6 interfaces)'],
    ['[::]', 8000, 'http://[::1]:8000', 'bracketed [::]'],
    ['10.1.2.3', 8000, 'http://10.1.2.3:8000', 'a specific IPv4 address'],
    ['::1', 8001, 'http://[::1]:8001', 'a specific IPv6 address, bracketed'],
    ['fe80::1', 8001, 'http://[fe80::1]:8001', 'another IPv6 address'],
    ['localhost', 8002, 'http://localhost:8002', 'a host name'],
  ];
  for (const [host, port, want, desc] of cases) t.equal(probeBase(host, port), want, desc);
});
