/**
 * Puts a rendered config in front of HAProxy: candidate file beside the output, validation command,
 * atomic rename, reload command, cleanup command. A failed validation touches nothing; a failed reload puts
 * the last good file back (the old HAProxy process keeps serving it) and reports, so the caller retries.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { allSynced, renameDurably, replaceNow, replaceThenSync, syncDir, writeAtomically, writeDurably, writeThenSync, type Pending } from '../fs/atomic.js';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { CulmError } from '../core/errors.js';
import { serialQueue } from '../core/serial.js';
import { streamReply } from './runtime-api.js';
import { intendedWeights, statesStillTrue } from './server-state.js';
import { childrenCpuMs, describeFailure, limitFailure, runCommand, startPastCheckLimit, withLimits, type CommandResult, type ResourceLimits } from './command.js';
import { escapeRegExp, shellQuote } from '../core/text.js';

export interface DriverOptions {
  outputPath: string;
  validationCommand: string;
  reloadCommand: string;
  cleanupCommand: string;
  commandTimeoutMs: number;
  /**
   * Before each reload, `show servers state` from this stats socket is written to `serverStatePath` (the
   * template's `server-state-file`), so the new process keeps DOWN and maintenance servers as they were.
   * Either unset: no state is saved.
   */
  statsSocketPath?: string;
  serverStatePath?: string;
  /** CPU time and memory a validation may use (a rule's pattern file must not take the host); default: none. */
  validationLimits?: ResourceLimits;
  log: Logger;
  /** What each reload or restart printed (HAProxy's alerts and warnings), for HAProxy.Log. */
  onOutput?(text: string): void;
  /** Runs the validation, reload and cleanup commands; default `runCommand` (tests pass their own). */
  run?: (command: string, timeoutMs: number) => Promise<CommandResult>;
  /**
   * True while no HAProxy serves the output (the first start): HAProxy's start then refuses a config it cannot
   * load as `haproxy -c` would, with nothing serving to lose, so the validation command runs only if the start
   * fails (a refused config is then reported as the check reports it, and the applier isolates bad apps as
   * after a failed check). Unset: every config is checked before it is put in place. main.ts sets it only for
   * culm's own reload command with HAProxy's plain check (see `firstStartUnchecked` there).
   */
  nothingServes?(): boolean;
  /** CPU time of culm's ended children, for the unchecked first start (default `childrenCpuMs`; tests pass their own). */
  childrenCpuMs?: () => number | undefined;
}

/** A file a config names and needs beside it (the route map): written before the config is checked. */
export interface SideFile {
  path: string;
  text: string;
  /** An HAProxy map (`<key> <value>` lines) whose content the runtime API can replace (see delivery.ts). */
  map?: boolean;
}

/** A config written beside the output, waiting for its runtime commands (see `prepareRuntime`). */
export interface RuntimeCandidate {
  readonly text: string;
  readonly path: string;
  /** Settles once the candidate and its side files are on disk (their fsyncs overlap the runtime commands). */
  readonly synced?: Promise<void>;
}

export interface ApplyTimings {
  validateMs: number;
  reloadMs: number;
}

/** A shell command that does nothing and succeeds (`exit 0`, `true`, `:` or nothing): not worth a shell. */
export const isNoOpCommand = (command: string): boolean => /^\s*(exit(\s+0)?|true|:)?\s*;?\s*$/.test(command);

/** Names culm gives side files beside `<output>` (core/routing.ts, core/tls.ts): only these are ever pruned. */
const isSideFileName = (output: string, name: string): boolean =>
  name.startsWith(`${output}.`) && /^\.(?:routes-[0-9a-f]+\.map|certs-[0-9a-f]+\.crtlist)$/.test(name.slice(output.length));
/** A side file whose fsync is through (see `HaproxyDriver.sideFiles`). */
const DURABLE = Symbol('durable');

/** This process's run: tells its candidate files from those of an earlier process that had the same pid. */
const RUN = randomBytes(4).toString('hex');

/** Whether a process with this pid exists (one of another culm sharing the directory keeps its files). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Bamboo's convention: `{{.}}` in the validation command is the candidate file. */
export function validationCommandFor(template: string, candidate: string): string {
  return template.includes('{{.}}') ? template.split('{{.}}').join(shellQuote(candidate)) : template;
}

export class HaproxyDriver {
  private readonly o: DriverOptions;
  private readonly run: (command: string, timeoutMs: number) => Promise<CommandResult>;
  /** The text HAProxy was last successfully reloaded with by this process. */
  private appliedText?: string;
  /** The config the last reload loaded: the one the server-state file was saved for (see `restart`). */
  private reloadedText?: string;
  /** Set by `forgetApplied`: `appliedText` may not be what HAProxy runs. */
  private stale = false;
  /** What is on disk and known to be good: the output file found at start, then each applied config. */
  private lastGood?: string;
  private initialised = false;
  /**
   * The last candidate `check()` validated, kept on disk: when the next apply renders the very same text (a
   * rule was checked, then applied), it is renamed into place without running the validation again.
   */
  private checked?: { text: string; path: string };
  /** Side files known to be on disk (written by this process). */
  /**
   * Side files written by this process, by path: their fsync while it runs (every caller that needs the file
   * waits for it, whoever started it), `DURABLE` once it is through. A failed fsync drops the entry, so the
   * next apply that needs the file writes it again.
   */
  private readonly sideFiles = new Map<string, Pending | typeof DURABLE>();
  /**
   * Every validation (a rule's check, an apply's) waits for the one before: four bad rules at once cost four
   * limited checks in a row, never four CPUs.
   */
  private readonly oneValidation = serialQueue();
  /** A reload and a restart (see `restart`) never run at once. */
  private readonly oneReload = serialQueue();
  /** Side files of rule checks in progress, with how many hold each (see `check`). */
  private readonly checking = new Map<string, number>();
  /** The prune of side files the last reload left behind (see `apply`), awaited before side files are written. */
  private pruning: Promise<void> = Promise.resolve();

  constructor(options: DriverOptions) {
    this.o = options;
    this.run = options.run ?? runCommand;
  }

  /** Settles once the clean-up after the last reload (old side files removed) is through. */
  idle(): Promise<void> {
    return this.pruning;
  }

  /** What HAProxy runs, as far as culm knows it; undefined before the first apply and after `forgetApplied`. */
  applied(): string | undefined {
    return this.stale ? undefined : this.appliedText;
  }

  /** The text last applied, even when `forgetApplied` made it uncertain (for display). */
  lastApplied(): string | undefined {
    return this.appliedText;
  }

  /**
   * HAProxy may not run what was applied (a runtime change half done): the next apply reloads, whatever its
   * text, and no runtime change is computed against it meanwhile.
   */
  forgetApplied(): void {
    this.stale = true;
  }

  private candidatePath(): string {
    const dir = dirname(this.o.outputPath);
    return join(dir, `.${basename(this.o.outputPath)}.${process.pid}-${RUN}.${randomBytes(4).toString('hex')}.candidate`);
  }

  private async init(): Promise<void> {
    if (this.initialised) return;
    this.initialised = true;
    try {
      this.lastGood = await readFile(this.o.outputPath, 'utf8');
    } catch {
      this.lastGood = undefined;
    }
    await this.pruneSideFiles([]);
    await this.removeStaleCandidates();
  }

  /** The names in the output's directory (none when it cannot be read: the write that follows will say why). */
  private async outputDirNames(): Promise<string[]> {
    try {
      return await readdir(dirname(this.o.outputPath));
    } catch {
      return [];
    }
  }

  /**
   * Candidate files left by a culm that died before renaming or removing them: `.<output>.<pid>-<run>.<hex>.candidate`
   * whose process is gone, or whose pid is this process's but from another run (a container restarted with
   * the same pid). Only exact names are touched; what cannot be removed is left (it never blocks an apply).
   */
  private async removeStaleCandidates(): Promise<void> {
    const dir = dirname(this.o.outputPath);
    const own = new RegExp(`^\\.${escapeRegExp(basename(this.o.outputPath))}\\.(\\d+)-([0-9a-f]{8})\\.[0-9a-f]{8}\\.candidate$`);
    for (const name of await this.outputDirNames()) {
      const m = own.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      const stale = pid === process.pid ? m[2] !== RUN : !processExists(pid);
      if (stale) await rm(join(dir, name), { force: true }).catch(() => undefined);
    }
  }

  /**
   * Side files are named by their content and never rewritten: a config on disk always finds the exact map it
   * was checked with. Written once (atomically) before the first config that names them is checked.
   */
  /**
   * Writes the side files not on disk yet, each under its name at once (HAProxy's check reads them), durable
   * when `synced` settles: callers await it before the config that names them is renamed into place.
   */
  private async writeSideFiles(files: readonly SideFile[]): Promise<Pending> {
    await this.pruning; // never a file written while a prune may remove it
    const pending: Pending[] = [];
    for (const f of files) {
      const known = this.sideFiles.get(f.path);
      if (known === DURABLE) continue;
      if (known) {
        pending.push(known);
        continue;
      }
      let written: Pending;
      try {
        // A file of that name already there (from before a restart; the name carries a hash of the content)
        // may be what the config on disk uses: replaced only by a file already on disk, never by one whose
        // fsync is still running. A new name is renamed at once and made durable meanwhile.
        if (existsSync(f.path)) {
          await writeAtomically(f.path, f.text);
          written = { synced: Promise.resolve() };
        } else written = await replaceThenSync(f.path, f.text);
      } catch (err) {
        throw new CulmError('E_WRITE', `cannot write ${f.path}: ${String(err)}`, { cause: err });
      }
      this.sideFiles.set(f.path, written);
      written.synced.then(
        () => { if (this.sideFiles.get(f.path) === written) this.sideFiles.set(f.path, DURABLE); },
        // Not known to be on disk after all: written again by the next apply that needs it.
        () => { if (this.sideFiles.get(f.path) === written) this.sideFiles.delete(f.path); },
      );
      pending.push(written);
    }
    return allSynced(pending);
  }

  /** Awaits `pending`, as an E_WRITE naming `what` when the fsync failed. */
  private async synced(pending: Pending | undefined, what: string): Promise<void> {
    try {
      await pending?.synced;
    } catch (err) {
      throw new CulmError('E_WRITE', `cannot write ${what}: ${String(err)}`, { cause: err });
    }
  }

  /**
   * Removes the side files (`<output>.routes-*.map`, `<output>.certs-*.crtlist`) that neither the applied config,
   * the last good one, the checked candidate nor `keep` names.
   */
  private async pruneSideFiles(keep: readonly SideFile[]): Promise<void> {
    const dir = dirname(this.o.outputPath);
    const base = basename(this.o.outputPath);
    const texts = [this.appliedText, this.lastGood, this.checked?.text];
    for (const name of await this.outputDirNames()) {
      if (!isSideFileName(base, name)) continue;
      const path = join(dir, name);
      if (keep.some((f) => f.path === path) || this.checking.has(path) || texts.some((t) => t?.includes(path))) continue;
      await rm(path, { force: true }).catch(() => undefined); // left for a later prune
      this.sideFiles.delete(path);
    }
  }

  /** Writes `text` to a candidate file and runs the validation command on it. Throws E_CONFIG_INVALID. */
  private async validate(text: string): Promise<{ path: string; ms: number }> {
    const path = this.candidatePath();
    const limits = this.o.validationLimits ?? { cpuSeconds: 0, memoryMiB: 0 };
    const command = withLimits(validationCommandFor(this.o.validationCommand, path), limits);
    // Written in its turn: checks waiting in the queue hold no candidate file on disk (a 10,000-app config is 6 MB).
    const result = await this.oneValidation(async () => {
      let written: Pending;
      try {
        written = await writeThenSync(path, text);
      } catch (err) {
        await rm(path, { force: true }); // a partial file (disk full) must not pile up at each retry
        throw new CulmError('E_WRITE', `cannot write candidate config ${path}: ${String(err)}`, { cause: err });
      }
      // The check reads the file from the page cache: its fsync runs meanwhile.
      const checked = this.run(command, this.o.commandTimeoutMs);
      try {
        await this.synced(written, `candidate config ${path}`);
      } catch (err) {
        await checked;
        await rm(path, { force: true });
        throw err;
      }
      return checked;
    });
    if (result.code !== 0) {
      await rm(path, { force: true });
      this.o.log.debug({ stderr: result.stderr, stdout: result.stdout }, 'validation output');
      // Callers see the candidate as the file it would become, without pids or quoted file contents.
      const clean = { replace: [[path, basename(this.o.outputPath)]] as const };
      // A validation stopped at a limit, or killed, says nothing about the config: retry, do not reject it; the
      // message names the limit and the setting that raises it.
      const stopped = limitFailure('validation', result, limits, this.o.commandTimeoutMs);
      if (stopped) throw new CulmError(stopped.code, stopped.message, { status: 503, cause: result });
      throw new CulmError('E_CONFIG_INVALID', describeFailure('validation', result, clean), { status: 400, cause: result });
    }
    return { path, ms: result.ms };
  }

  /** Validates without applying (used to check a rule before it is stored). */
  async check(text: string, files: readonly SideFile[] = []): Promise<void> {
    await this.init();
    // While this check waits for its turn, an apply may finish and prune: its side files must survive that.
    const held = files.map((f) => f.path);
    for (const p of held) this.checking.set(p, (this.checking.get(p) ?? 0) + 1);
    try {
      const side = await this.writeSideFiles(files);
      const { path } = await this.validate(text);
      try {
        await this.synced(side, 'the side files');
      } catch (err) {
        await rm(path, { force: true });
        throw err;
      }
      const previous = this.checked;
      this.checked = { text, path };
      if (previous) await rm(previous.path, { force: true });
    } finally {
      for (const p of held) {
        const n = (this.checking.get(p) ?? 1) - 1;
        if (n === 0) this.checking.delete(p);
        else this.checking.set(p, n);
      }
    }
  }

  /** The candidate for `text`: the one `check()` validated if it is the same text, else a new validation. */
  private async candidateFor(text: string): Promise<{ path: string; ms: number }> {
    const checked = this.checked;
    if (checked) {
      this.checked = undefined;
      if (checked.text === text) return { path: checked.path, ms: 0 };
      await rm(checked.path, { force: true });
    }
    return this.validate(text);
  }

  /** Applies `text`; resolves with timings, or null when it is already what HAProxy runs. */
  async apply(text: string, files: readonly SideFile[] = []): Promise<ApplyTimings | null> {
    await this.init();
    if (text === this.applied()) return null;
    // The side files' fsyncs overlap the check; the config that names them is renamed only once they are done.
    const side = await this.writeSideFiles(files);
    // Nothing serves yet: HAProxy's start is the check (~1-2 s less at 10,000 apps), see `nothingServes`.
    const unchecked = this.appliedText === undefined && this.checked?.text !== text && this.o.nothingServes?.() === true;
    const { path, ms: validateMs } = unchecked ? await this.uncheckedCandidate(text) : await this.candidateFor(text);
    try {
      await this.synced(side, 'the side files');
      await rename(path, this.o.outputPath);
    } catch (err) {
      await rm(path, { force: true });
      throw err instanceof CulmError ? err : new CulmError('E_WRITE', `cannot move config into ${this.o.outputPath}: ${String(err)}`, { cause: err });
    }
    // The reload reads the renamed file at once; the rename is made durable meanwhile.
    const dirSynced = syncDir(dirname(this.o.outputPath));
    const cpu = this.o.childrenCpuMs ?? childrenCpuMs;
    let startCpuMs: number | undefined;
    const reload = await this.oneReload(async () => {
      await this.saveServerState();
      const before = unchecked ? cpu() : undefined;
      const r = await this.run(this.o.reloadCommand, this.o.commandTimeoutMs);
      const after = before === undefined ? undefined : cpu();
      if (before !== undefined && after !== undefined) startCpuMs = after - before;
      return r;
    });
    await dirSynced;
    if (reload.code !== 0 && unchecked) await this.refusedStart(text);
    // The unchecked start is held to the check's time limit (its command's timeout), not to its CPU time.
    const past = reload.code === 0 && startCpuMs !== undefined ? startPastCheckLimit(startCpuMs, this.o.validationLimits ?? { cpuSeconds: 0, memoryMiB: 0 }) : '';
    if (past) this.o.log.warn({ cpuMs: startCpuMs }, past);
    this.o.onOutput?.(`${reload.stderr}\n${reload.stdout}`);
    if (reload.code !== 0) await this.restoreLastGood();
    await this.cleanup();
    if (reload.code !== 0) throw new CulmError('E_RELOAD_FAILED', describeFailure('reload', reload), { cause: reload });
    this.appliedText = text;
    this.reloadedText = text;
    this.stale = false;
    this.lastGood = text;
    // Off the apply's path (HAProxy runs the new config already): the next write of side files waits for it.
    this.pruning = this.pruning.then(() => this.pruneSideFiles(files)).catch(() => undefined);
    return { validateMs, reloadMs: reload.ms };
  }

  /**
   * Bamboo runs the cleanup command after every reload attempt, successful or not (its default, `exit 0`, does
   * nothing: no shell is started for it).
   */
  private async cleanup(): Promise<void> {
    if (isNoOpCommand(this.o.cleanupCommand)) return;
    const cleanup = await this.run(this.o.cleanupCommand, this.o.commandTimeoutMs);
    if (cleanup.code !== 0) this.o.log.warn({ detail: describeFailure('cleanup', cleanup) }, 'cleanup command failed');
  }

  /** `text` as a candidate file, not validated (the first start checks it: see `nothingServes`). */
  private async uncheckedCandidate(text: string): Promise<{ path: string; ms: number }> {
    const checked = this.checked;
    this.checked = undefined;
    if (checked) await rm(checked.path, { force: true });
    const path = this.candidatePath();
    try {
      await writeDurably(path, text);
    } catch (err) {
      await rm(path, { force: true });
      throw new CulmError('E_WRITE', `cannot write candidate config ${path}: ${String(err)}`, { cause: err });
    }
    return { path, ms: 0 };
  }

  /**
   * An unchecked first start failed: the check says whether the config is at fault. If it is, the start is
   * undone as if the check had come first (the last good file back, or none, the cleanup command run, HAProxy's
   * start output not reported) and the check's error thrown; otherwise the start's failure is reported as usual.
   */
  private async refusedStart(text: string): Promise<void> {
    try {
      const { path } = await this.validate(text);
      await rm(path, { force: true });
    } catch (err) {
      if (this.lastGood === undefined) await rm(this.o.outputPath, { force: true });
      else await this.restoreLastGood();
      await this.cleanup();
      throw err;
    }
  }

  /**
   * For a change applied through the runtime API: writes `text` (and its side files) durably to a candidate
   * file first, so that once the commands have reached HAProxy, `commitRuntime` only has to rename it into
   * place. The file on disk is then never behind HAProxy for longer than a rename, and a crash in between
   * leaves no partial file.
   */
  async prepareRuntime(text: string, files: readonly SideFile[] = []): Promise<RuntimeCandidate> {
    await this.init();
    const side = await this.writeSideFiles(files);
    const path = this.candidatePath();
    let written: Pending;
    try {
      written = await writeThenSync(path, text);
    } catch (err) {
      await rm(path, { force: true });
      throw new CulmError('E_WRITE', `cannot write candidate config ${path}: ${String(err)}`, { cause: err });
    }
    // The fsyncs run while the runtime commands are sent: the rename in commitRuntime waits for them.
    return { text, path, synced: allSynced([side, written]).synced };
  }

  /**
   * Records the candidate as applied after its changes reached HAProxy through the runtime API: renamed over
   * the output, so the file on disk holds the whole truth and a later reload or a restart gives the same servers.
   */
  async commitRuntime(candidate: RuntimeCandidate): Promise<void> {
    try {
      await this.synced(candidate.synced === undefined ? undefined : { synced: candidate.synced }, `candidate config ${candidate.path}`);
      await renameDurably(candidate.path, this.o.outputPath);
    } catch (err) {
      await this.discard(candidate);
      throw err instanceof CulmError ? err : new CulmError('E_WRITE', `cannot move config into ${this.o.outputPath}: ${String(err)}`, { cause: err });
    }
    this.appliedText = candidate.text;
    this.stale = false;
    this.lastGood = candidate.text;
  }

  /** Removes a prepared candidate that will not be committed. */
  async discard(candidate: RuntimeCandidate): Promise<void> {
    await rm(candidate.path, { force: true });
  }

  /**
   * Starts HAProxy again after it died (see supervisor.ts): the reload command, on the file on disk, which is
   * the last config applied (a failed reload puts the last good one back), with only the server states still
   * true of it (see server-state.ts). Throws E_RELOAD_FAILED.
   */
  async restart(): Promise<number> {
    if (this.appliedText === undefined) throw new CulmError('E_RELOAD_FAILED', 'nothing applied yet: no config to restart HAProxy from');
    const current = this.appliedText;
    const result = await this.oneReload(async () => {
      await this.keepTrueServerStates(current);
      return this.run(this.o.reloadCommand, this.o.commandTimeoutMs);
    });
    this.o.onOutput?.(`${result.stderr}\n${result.stdout}`);
    if (result.code !== 0) throw new CulmError('E_RELOAD_FAILED', describeFailure('restart', result), { cause: result });
    return result.ms;
  }

  /**
   * Writes what the running HAProxy says of its servers (`show servers state`) where the next process loads it
   * from. Never blocks the reload: no HAProxy yet (first start), a dead one or a slow socket only cost the
   * states, which the log says; the file is then removed, so an older state is never loaded in its place.
   */
  private async saveServerState(): Promise<void> {
    const { statsSocketPath: socket, serverStatePath: path } = this.o;
    if (!socket || !path) return;
    if (!existsSync(socket)) return void (await rm(path, { force: true }).catch(() => undefined)); // first start
    try {
      const applied = this.applied();
      const weights = applied === undefined ? undefined : intendedWeights(applied);
      // A version line, then the `#` header: anything else is not a state HAProxy can load.
      let lines = 0;
      const line = (text: string, index: number): string => {
        lines = index + 1;
        if ((index === 0 && !/^\d+$/.test(text)) || (index === 1 && !text.startsWith('#'))) throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
        return weights ? weights(text) : text;
      };
      const reply = streamReply(socket, 'show servers state', line, Math.min(this.o.commandTimeoutMs, 2000));
      async function* state(): AsyncGenerator<string> {
        yield* reply;
        if (lines < 2) throw new Error('unexpected answer: no state header');
      }
      // Streamed into the file (never held whole: 100,000 servers are ~18 MB). Read by the reload that follows,
      // worthless after a crash: no fsync on the reload's path.
      await replaceNow(path, state());
    } catch (err) {
      await rm(path, { force: true }).catch(() => undefined);
      this.o.log.warn({ err: String(err), serverStateFile: path }, 'server states not saved before reload; reloading without them');
    }
  }

  /**
   * Before a restart: the state file keeps the states of the servers unchanged since the reload it was saved
   * for; when that cannot be told (no reload by this process, or the configs differ by more than servers),
   * it is removed, and every server starts as its config line says.
   */
  private async keepTrueServerStates(current: string): Promise<void> {
    const path = this.o.serverStatePath;
    if (!path || !existsSync(path)) return;
    try {
      const kept = this.reloadedText === undefined ? null : statesStillTrue(await readFile(path, 'utf8'), this.reloadedText, current);
      if (kept === null) await rm(path, { force: true });
      else await writeAtomically(path, kept);
    } catch (err) {
      await rm(path, { force: true }).catch(() => undefined);
      this.o.log.warn({ err: String(err), serverStateFile: path }, 'server states not kept for the restart');
    }
  }

  private async restoreLastGood(): Promise<void> {
    if (this.lastGood === undefined) return; // nothing older exists: the validated new file stays
    const tmp = this.candidatePath();
    try {
      await writeDurably(tmp, this.lastGood);
      await renameDurably(tmp, this.o.outputPath);
      this.o.log.warn({ output: this.o.outputPath }, 'reload failed: last good config restored');
    } catch (err) {
      await rm(tmp, { force: true });
      this.o.log.error({ err }, 'reload failed and the last good config could not be restored');
    }
  }
}
