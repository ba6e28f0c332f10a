/**
 * A real ZooKeeper for integration tests: Debian's zookeeper package (3.8) run standalone as our own child,
 * on its own free port on 127.0.0.1, with its own conf and data in a temp dir. pause() stops the process and
 * keeps the data; resume() starts it again on the same port. Only the process started here is ever stopped.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zookeeper, { type ACL, type Client, type Stat } from 'node-zookeeper-client';
import { closeClient, guardHandshake } from '../../src/store/zookeeper/session.js';
import { freePort } from './net.js';
import { isAlive, requireBinary, startChild, type Child } from './processes.js';

/**
 * Runs the JVM under a small shell that stops it when told to (SIGTERM) and also when the test process is
 * gone: a test killed by a timeout or a signal must not leave a ZooKeeper running. $1 is our pid.
 */
const WATCHDOG = `parent=$1; shift
"$@" & child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM INT
while kill -0 $parent 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1 & wait $!; done
kill -TERM $child 2>/dev/null; wait $child`;

const JARS = ['/usr/share/java/zookeeper.jar', '/usr/share/java/slf4j-simple.jar'];

export interface ZooKeeperServer {
  /** "127.0.0.1:PORT" */
  connect: string;
  port: number;
  dir: string;
  /** pid of our child: the watchdog shell whose child is the JVM (undefined while paused). */
  pid(): number | undefined;
  /** The server's log so far (all runs). */
  output(): string;
  stop(): Promise<void>;
  /** Stops the server process; the data dir stays. */
  pause(): Promise<void>;
  /** Starts it again on the same port and data; resolves when it serves. */
  resume(): Promise<void>;
}

/** Sends a four-letter word; resolves the answer ('' on any error). */
export function fourLetterWord(port: number, word: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const socket = connect({ host: '127.0.0.1', port });
    const done = (): void => {
      socket.destroy();
      resolve(out);
    };
    socket.setTimeout(timeoutMs, done);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (d) => { out += d.toString(); });
    socket.on('end', done);
    socket.on('error', () => resolve(''));
  });
}

export async function startZooKeeper(options: { tickTimeMs?: number; readyTimeoutMs?: number } = {}): Promise<ZooKeeperServer> {
  const java = requireBinary('java', 'install a JRE (Debian: apt-get install default-jre-headless zookeeper)');
  for (const jar of JARS) {
    if (!existsSync(jar)) throw new Error(`${jar} is required for the ZooKeeper tests but is missing: apt-get install zookeeper libslf4j-java`);
  }
  const port = await freePort();
  const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'culm-zk-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const cfg = join(dir, 'zoo.cfg');
  writeFileSync(cfg, [
    `tickTime=${options.tickTimeMs ?? 500}`,
    `dataDir=${dataDir}`,
    `clientPort=${port}`,
    'clientPortAddress=127.0.0.1',
    'admin.enableServer=false',
    '4lw.commands.whitelist=ruok,srvr,stat,cons',
    'maxClientCnxns=0',
    'maxSessionTimeout=60000',
    'forceSync=no', // tests do not need the fsync per transaction
    'preAllocSize=4096',
    'snapCount=100000',
    '',
  ].join('\n'));
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  let child: Child | undefined;
  let log = '';

  const start = async (): Promise<void> => {
    const c = startChild('/bin/sh', ['-c', WATCHDOG, 'zookeeper', String(process.pid), java, [
      '-Xms16m', '-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss512k',
      '-Djava.net.preferIPv4Stack=true',
      '-Dzookeeper.admin.enableServer=false',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      `-Dzookeeper.log.dir=${dir}`,
      '-cp', JARS.join(':'),
      'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg,
    ]].flat(), { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR ?? tmpdir() }, dir);
    child = c;
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) {
        throw new Error(`ZooKeeper exited at start (${c.proc.exitCode ?? c.proc.signalCode}):\n${tail(c.output())}`);
      }
      // srvr answers "Mode: standalone" only once the server serves requests.
      if ((await fourLetterWord(port, 'srvr', 500)).includes('Mode:')) return;
      if (Date.now() > deadline) {
        await c.stop('SIGKILL');
        throw new Error(`ZooKeeper did not serve on 127.0.0.1:${port} within ${readyTimeoutMs} ms:\n${tail(c.output())}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c) return;
    await c.stop('SIGTERM');
    log += c.output();
  };

  // A test that exits without stopping it must not leave a JVM behind: the watchdog shell stops the JVM on
  // SIGTERM (and by itself within a second when this process is gone, e.g. killed by a timeout).
  const onExit = (): void => {
    const pid = child?.proc.pid;
    if (pid && isAlive(pid)) process.kill(pid, 'SIGTERM');
  };
  process.on('exit', onExit);

  try {
    await start();
  } catch (err) {
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    connect: `127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child?.proc.pid,
    output: () => log + (child?.output() ?? ''),
    pause: halt,
    resume: start,
    async stop() {
      await halt();
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tail(text: string, lines = 30): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/**
 * A plain node-zookeeper-client session for tests to seed and inspect trees directly, the way Bamboo
 * (or an operator with zkCli) would, without going through culm's store code.
 */
export interface RawZk {
  client: Client;
  create(path: string, data?: string | Buffer, acl?: ACL[]): Promise<void>;
  mkdirp(path: string): Promise<void>;
  set(path: string, data: string | Buffer, version?: number): Promise<Stat>;
  get(path: string): Promise<{ data: string; stat: Stat }>;
  children(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
  remove(path: string): Promise<void>;
  getAcl(path: string): Promise<ACL[]>;
  close(): Promise<void>;
}

export async function rawZk(connectString: string, auth?: string): Promise<RawZk> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 10_000, spinDelay: 200 });
  if (auth) client.addAuthInfo('digest', Buffer.from(auth));
  const stopGuard = guardHandshake(client, 2000); // the client would otherwise hang on a server restarting
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`raw ZooKeeper client could not connect to ${connectString}`)), 10_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  const cb = <T>(fn: (done: (err: unknown, value: T) => void) => void): Promise<T> => new Promise((resolve, reject) => {
    fn((err, value) => (err ? reject(err) : resolve(value)));
  });
  const buf = (d: string | Buffer): Buffer => (typeof d === 'string' ? Buffer.from(d) : d);
  return {
    client,
    create: (path, data = '', acl = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))]) => cb<void>((done) => client.create(path, buf(data), acl, zookeeper.CreateMode.PERSISTENT, (e) => done(e, undefined))),
    mkdirp: (path) => cb<void>((done) => client.mkdirp(path, (e) => done(e, undefined))),
    set: (path, data, version = -1) => cb<Stat>((done) => client.setData(path, buf(data), version, done)),
    get: (path) => cb((done) => client.getData(path, (e, data, stat) => done(e, { data: data?.toString('utf8') ?? '', stat }))),
    children: (path) => cb<string[]>((done) => client.getChildren(path, (e, children) => done(e, children))),
    exists: (path) => cb<boolean>((done) => client.exists(path, (e, stat) => done(e, !!stat))),
    remove: (path) => cb<void>((done) => client.remove(path, -1, (e) => done(e, undefined))),
    getAcl: (path) => cb<ACL[]>((done) => client.getACL(path, (e, acls) => done(e, acls))),
    close: () => {
      stopGuard();
      return closeClient(client);
    },
  };
}

/**
 * A TCP proxy in front of ZooKeeper that can go silent: while blocked, bytes are dropped both ways and
 * sockets stay open, like a network partition (no RST, no FIN). The server then expires the session, and
 * the client must notice by itself. unblock() closes the connections that lost bytes.
 */
export interface Partition {
  connect: string;
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

export async function startPartition(targetPort: number): Promise<Partition> {
  let blocked = false;
  const pairs = new Set<{ a: Socket; b: Socket; damaged: boolean }>();
  const server: Server = createServer((a) => {
    const b = connect({ host: '127.0.0.1', port: targetPort });
    const pair = { a, b, damaged: blocked };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (d) => {
        if (blocked) pair.damaged = true;
        else to.write(d);
      });
      from.on('close', () => { to.destroy(); pairs.delete(pair); });
      from.on('error', () => to.destroy());
    };
    forward(a, b);
    forward(b, a);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    connect: `127.0.0.1:${port}`,
    block: () => { blocked = true; },
    unblock: () => {
      blocked = false;
      for (const p of pairs) if (p.damaged) { p.a.destroy(); p.b.destroy(); }
    },
    close: () => new Promise<void>((resolve) => {
      for (const p of pairs) { p.a.destroy(); p.b.destroy(); }
      server.close(() => resolve());
    }),
  };
}
