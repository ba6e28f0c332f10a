/**
 * The floor for the ingestion figure: the least a node:http server can do per callback on this machine
 * (read the body, parse the JSON, answer 200 with a small JSON body). `node http-floor.mjs PORT`; prints
 * "ready" once listening. The ingest scenario puts it under the same load as culm.
 */
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = '{"accepted":false}';
    try {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      body = JSON.stringify({ accepted: true, kind: typeof event.eventType === 'string' ? 'task' : 'other' });
    } catch {
      /* answered all the same */
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
