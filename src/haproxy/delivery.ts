/**
 * The one owner of putting a config in front of HAProxy. Given the rendered text (and its side files), it
 * decides how to deliver the difference from what HAProxy runs, and runs it:
 *   - runtime map: the route map's entries changed (a rule) — the live map is swapped at once
 *     (`prepare`/`add`/`commit map`), no reload, no `haproxy -c` (a map line is data);
 *   - runtime servers: only `server` lines of existing backends changed (tasks) — `add`/`del server`…;
 *   - both at once, when that is all that changed;
 *   - reload: anything else, or any runtime failure (candidate, `haproxy -c`, rename, reload, last good),
 *     at least `reloadIntervalMs` apart.
 * In every runtime case the file on disk is still written first and renamed into place once the commands are
 * through, so the file is always the whole truth for a later reload or restart. Nothing else in culm talks to
 * HAProxy: the applier renders and asks for a delivery; the daemon checks rules through `check`; the
 * supervisor restarts through `restart`. The driver (files, commands), the socket and the clock are
 * injected, so each decision is unit-tested without HAProxy (test/unit/delivery.test.ts).
 */
import { CulmError, errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { ReloadPacer, type Clock } from '../pipeline/reload-pacer.js';
import type { ApplyTimings, HaproxyDriver, RuntimeCandidate, SideFile } from './driver.js';
import { LingeringServers } from './lingering.js';
import { mapEdits, usedOnlyByPrefixOrExact, type MapEdit } from './map-edits.js';
import { applyRuntimeOps, editMap, replaceMap, showServerStats, type RuntimeResult } from './runtime-api.js';
import type { ServerStat } from './server-stats.js';
import { runtimeOps, type RuntimeOp, type ServerLine } from './server-diff.js';

/** Above this many server changes at once, a reload is faster than the runtime API. */
export const MAX_RUNTIME_OPS = 2000;

/** What the delivery needs of the driver: files on disk and HAProxy's commands. */
export type DeliveryDriver = Pick<HaproxyDriver,
  'applied' | 'lastApplied' | 'forgetApplied' | 'check' | 'apply' | 'restart' | 'prepareRuntime' | 'commitRuntime' | 'discard'>;

/** What the delivery sends on the stats socket (the real socket by default; tests pass their own). */
export interface RuntimeSocket {
  applyOps(ops: RuntimeOp[], known: ReadonlyMap<string, ServerLine>): Promise<RuntimeResult>;
  replaceMap(live: string, text: string): Promise<unknown>;
  /** A few entries of the live map changed in place (map-edits.ts). */
  editMap(live: string, edits: readonly MapEdit[]): Promise<unknown>;
}

/** The part of the lingering servers' bookkeeping the delivery uses (see lingering.ts). */
export type Lingering = Pick<LingeringServers, 'exclusive' | 'known' | 'update' | 'clear'>;

export interface DeliveryOptions {
  driver: DeliveryDriver;
  log: Logger;
  /** The stats socket; undefined turns the runtime paths off (every change reloads). */
  socketPath?: string;
  /** The stats socket for reads (HAProxy's view of its servers), also when the runtime paths are off; default `socketPath`. */
  statsSocketPath?: string;
  /** Default: `show stat` on `statsSocketPath`. */
  readStats?: (backends: readonly string[]) => Promise<ServerStat[]>;
  /** Minimum time between two reloads (old processes drain after each); runtime changes are not limited. */
  reloadIntervalMs?: number;
  clock?: Clock;
  /** Default: HAProxy's runtime API on `socketPath`. */
  socket?: RuntimeSocket;
  /** Default: `LingeringServers` on `socketPath`. */
  lingering?: Lingering;
}

/** One delivery, as the applier records it. */
export type Delivery =
  | { mode: 'runtime'; ms: number; maps: number; serverOps: number; runtimeFailed?: undefined }
  | { mode: 'reload'; timings: ApplyTimings | null; runtimeFailed: boolean }
  | { mode: 'deferred'; retryAt: number; runtimeFailed: boolean };

/** A failed delivery: the code says what (E_CONFIG_INVALID, E_RELOAD_FAILED, E_WRITE…), `runtimeFailed` as above. */
export class DeliveryError extends CulmError {
  constructor(readonly error: CulmError, readonly runtimeFailed: boolean) {
    super(error.code, error.message, { cause: error.cause ?? error, status: error.status });
  }
}

/** Side files that hold an HAProxy map, in order (the route map today). */
const mapsOf = (files: readonly SideFile[]): SideFile[] => files.filter((f) => f.map);

export class HaproxyDelivery {
  private readonly pacer: ReloadPacer;
  private readonly socket?: RuntimeSocket;
  private readonly lingering?: Lingering;
  private readonly readStats?: (backends: readonly string[]) => Promise<ServerStat[]>;
  /** The side files of the config HAProxy runs (as the text in `driver.applied()` names them). */
  private appliedFiles: readonly SideFile[] = [];
  /**
   * The maps as the running HAProxy knows them: the file names in the config it started from (reload or
   * restart), index for index with `mapsOf(appliedFiles)`. Runtime map changes keep those names, while the
   * files on disk get the names of their new content.
   */
  private liveMaps: string[] = [];

  constructor(private readonly o: DeliveryOptions) {
    this.pacer = new ReloadPacer(o.reloadIntervalMs ?? 0, o.clock);
    if (o.socketPath) {
      const path = o.socketPath;
      this.socket = o.socket ?? {
        applyOps: (ops, known) => applyRuntimeOps(path, ops, known),
        replaceMap: (live, text) => replaceMap(path, live, text),
        editMap: (live, edits) => editMap(path, live, edits),
      };
      this.lingering = o.lingering ?? new LingeringServers(path, o.log);
    }
    const stats = o.statsSocketPath ?? o.socketPath;
    this.readStats = o.readStats ?? (stats ? (backends) => showServerStats(stats, backends) : undefined);
  }

  /**
   * HAProxy's live view of the servers of these backends (UP/DOWN/MAINT, sessions, last check): read only, for
   * the console. Throws E_RUNTIME when HAProxy cannot be asked (no stats socket configured, or no answer).
   */
  serverStats(backends: readonly string[]): Promise<ServerStat[]> {
    if (!this.readStats) return Promise.reject(new CulmError('E_RUNTIME', 'no stats socket is configured (HAProxy.StatsSocket)'));
    return this.readStats(backends);
  }

  /** What HAProxy runs, as far as culm knows it (undefined before the first delivery and after a runtime failure). */
  applied(): string | undefined {
    return this.o.driver.applied();
  }

  /** The text last delivered, even when a runtime failure made it uncertain (for display). */
  lastApplied(): string | undefined {
    return this.o.driver.lastApplied();
  }

  /** `haproxy -c` of a candidate that is not delivered (a rule being stored). */
  check(text: string, files: readonly SideFile[] = []): Promise<void> {
    return this.o.driver.check(text, files);
  }

  /**
   * `text` with the applied maps' names put back where its maps changed (their names carry a hash of their
   * content), so that what is left to compare is everything but the maps' content; undefined when no map
   * changed or the maps do not pair up (one more or one less: a reload).
   */
  private withAppliedMaps(text: string, files: readonly SideFile[], applied: string): { text: string; changed: number[] } | undefined {
    const next = mapsOf(files);
    const prev = mapsOf(this.appliedFiles);
    if (next.length === 0 || next.length !== prev.length) return undefined;
    const changed: number[] = [];
    let compared = text;
    for (let i = 0; i < next.length; i++) {
      if (next[i].path === prev[i].path) continue;
      if (!compared.includes(next[i].path) || !applied.includes(prev[i].path)) return undefined;
      compared = compared.split(next[i].path).join(prev[i].path);
      changed.push(i);
    }
    return changed.length > 0 ? { text: compared, changed } : undefined;
  }

  /**
   * True when delivering `text` would change nothing but map entries: such a candidate cannot break the config
   * (a map line is data, looked up per request), so a rule check needs no `haproxy -c`.
   */
  mapOnly(text: string, files: readonly SideFile[]): boolean {
    const applied = this.applied();
    if (applied === undefined) return false;
    return text === applied || this.withAppliedMaps(text, files, applied)?.text === applied;
  }

  /** Delivers `text`: through the runtime API when only servers and map entries changed, else by a reload. */
  async deliver(text: string, files: readonly SideFile[] = []): Promise<Delivery> {
    const runtime = await this.tryRuntime(text, files);
    if (runtime !== undefined && 'mode' in runtime) return runtime;
    const runtimeFailed = runtime !== undefined;
    if (!this.pacer.mayReload()) return { mode: 'deferred', retryAt: this.pacer.allowedAt(), runtimeFailed };
    const reloadAt = this.pacer.now();
    try {
      const timings = await this.reload(text, files);
      if (timings) this.pacer.reloaded(reloadAt);
      return { mode: 'reload', timings, runtimeFailed };
    } catch (err) {
      const e = err instanceof CulmError ? err : new CulmError('E_APPLY', errorMessage(err), { cause: err });
      if (e.code === 'E_RELOAD_FAILED') this.pacer.reloaded(reloadAt);
      throw new DeliveryError(e, runtimeFailed);
    }
  }

  /**
   * Server-only and map-only changes (or both) through the runtime API (no reload, no -c: HAProxy parsed each
   * server line as it took it, and a map line is data). Undefined when this change needs a reload; `failed`
   * when a runtime command failed (then reload, from the whole file).
   */
  private async tryRuntime(text: string, files: readonly SideFile[]): Promise<Delivery | { failed: true } | undefined> {
    const applied = this.applied();
    const socket = this.socket;
    const lingering = this.lingering;
    if (!socket || !lingering || applied === undefined) return undefined;
    const maps = this.withAppliedMaps(text, files, applied);
    const ops = runtimeOps(applied, maps?.text ?? text, MAX_RUNTIME_OPS);
    // Thousands of socket commands take longer than one reload (measured: 2,000 adds ≈ 0.6–0.85 s).
    if (!ops || ops.length > MAX_RUNTIME_OPS || (ops.length === 0 && !maps)) return undefined;
    const before = mapsOf(this.appliedFiles);
    const swaps = (maps?.changed ?? []).map((i) => {
      const live = this.liveMaps[i];
      const text = mapsOf(files)[i].text;
      // A few entries changed in place where the map's lookups allow it; else the whole map swapped.
      const edits = live !== undefined && usedOnlyByPrefixOrExact(applied, before[i].path) ? mapEdits(before[i].text, text) : null;
      return { live, text, edits };
    });
    if (swaps.some((s) => s.live === undefined)) return undefined; // a map the running process does not know by name
    const started = performance.now();
    let candidate: RuntimeCandidate | undefined;
    try {
      // The file is written before the commands are sent, renamed into place once they are through.
      candidate = await this.o.driver.prepareRuntime(text, files);
      const prepared = candidate;
      await lingering.exclusive(async () => {
        for (const swap of swaps) {
          if (swap.edits) await socket.editMap(swap.live, swap.edits);
          else await socket.replaceMap(swap.live, swap.text);
        }
        const result = ops.length > 0 ? await socket.applyOps(ops, lingering.known()) : undefined;
        await this.o.driver.commitRuntime(prepared);
        this.appliedFiles = files;
        if (result) lingering.update(result.lingering, ops.filter((o) => o.op === 'add').map((o) => `${o.backend}/${o.server.name}`));
      });
    } catch (err) {
      // HAProxy's servers are not known exactly any more (a batch may have half run): only a reload, from the
      // whole file, puts them right, even if the next config is the one applied before.
      this.o.driver.forgetApplied();
      if (candidate) await this.o.driver.discard(candidate).catch(() => undefined);
      this.o.log.warn({ err: errorMessage(err) }, 'runtime API change failed; reloading instead');
      return { failed: true };
    }
    return { mode: 'runtime', ms: performance.now() - started, maps: swaps.length, serverOps: ops.length };
  }

  /** The reload, with no deletion of lingering servers in flight; after it, none are left. */
  private async reload(text: string, files: readonly SideFile[]): Promise<ApplyTimings | null> {
    const run = async (): Promise<ApplyTimings | null> => {
      const timings = await this.o.driver.apply(text, files);
      if (timings) {
        this.lingering?.clear();
        this.startedFrom(files);
      }
      return timings;
    };
    return this.lingering ? this.lingering.exclusive(run) : run();
  }

  /**
   * HAProxy died (see supervisor.ts): started again from the last applied file, like a reload, so no deletion
   * of lingering servers reaches the new process, which has only the servers of the file.
   */
  restart(): Promise<number> {
    const run = async (): Promise<number> => {
      const ms = await this.o.driver.restart();
      this.lingering?.clear();
      this.startedFrom(this.appliedFiles);
      return ms;
    };
    return this.lingering ? this.lingering.exclusive(run) : run();
  }

  /** A process started from a config with these side files: it knows its maps by these names. */
  private startedFrom(files: readonly SideFile[]): void {
    this.appliedFiles = files;
    this.liveMaps = mapsOf(files).map((f) => f.path);
  }
}
