/**
 * Renders the HAProxy config from an Eta template. The template is re-read when its file changes, so an
 * operator can fix a broken template without restarting culm; a template that does not compile or throws
 * is an E_TEMPLATE error for this render only, never an empty config.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Eta } from 'eta';
import { CulmError, errorMessage } from '../core/errors.js';
import type { TemplateContext } from '../core/view.js';
import { quote, quoteFormat } from '../core/input-grammar.js';

type Services = TemplateContext['Services'];

/** Bamboo's template functions, under Bamboo's names and lower-case ones. */
export const templateHelpers = {
  hasKey: (services: Services, id: string): boolean => Object.prototype.hasOwnProperty.call(services, id),
  getService: (services: Services, id: string) => services[id] ?? { Id: id, Acl: '', Config: {} },
  Split: (s: string, sep: string): string[] => s.split(sep),
  Join: (parts: string[], sep: string): string => parts.join(sep),
  Contains: (s: string, sub: string): boolean => s.includes(sub),
  Replace: (s: string, from: string, to: string, n = -1): string => {
    if (n < 0) return s.split(from).join(to);
    let out = s;
    for (let i = 0; i < n && out.includes(from); i++) out = out.replace(from, to);
    return out;
  },
  ToUpper: (s: string): string => s.toUpperCase(),
  ToLower: (s: string): string => s.toLowerCase(),
  ToInt: (s: string): number => {
    const n = Number.parseInt(s, 10);
    if (Number.isNaN(n)) throw new Error(`ToInt: ${JSON.stringify(s)} is not a number`);
    return n;
  },
  /** culm's: any text as one HAProxy word (single-quoted), for label or env values a template writes. */
  quote,
  /** culm's: like `quote`, with `%` doubled, for arguments HAProxy reads as log-format strings. */
  quoteFormat,
};

const lowerCaseHelpers = {
  split: templateHelpers.Split, join: templateHelpers.Join, contains: templateHelpers.Contains,
  replace: templateHelpers.Replace, toUpper: templateHelpers.ToUpper, toLower: templateHelpers.ToLower,
  toInt: templateHelpers.ToInt,
};

/**
 * A template's output is a rope of thousands of small pieces; V8 copies it into one flat string on first
 * use, walking every piece. Made flat once when it is memoised, a backend costs nothing more in later
 * renders, and the whole config flattens in a few milliseconds instead of ~60 at 10,000 apps.
 */
function flat(text: string): string {
  text.charCodeAt(0); // reading a character makes V8 flatten the string in place
  return text;
}

/**
 * A render that failed in text belonging to one app (`it.forApp`: its backends, its override partial): the
 * applier leaves that app out and renders the rest, as for an app whose lines fail `haproxy -c`.
 */
export class AppRenderError extends CulmError {
  constructor(readonly appId: string, message: string, cause: unknown) {
    super('E_TEMPLATE', message, { cause });
  }
}

export type RenderData = TemplateContext & { HAProxy: TemplateContext['HAProxy'] & { TemplatePath: string } };

export class Renderer {
  readonly templatePath: string;
  private compiled?: { signature: string; fn: (data: object) => string };
  /** Text rendered for a view object (`it.memo(app, () => …)`); dropped when the template changes. */
  private memo = new WeakMap<object, string>();
  private eta: Eta;

  constructor(templatePath: string) {
    this.templatePath = resolve(templatePath);
    this.eta = this.newEta();
  }

  private newEta(): Eta {
    const eta = new Eta({
      views: dirname(this.templatePath),
      autoEscape: false, // HAProxy config, not HTML
      autoTrim: false, // newlines matter in a config: a control line ends with -%> to drop its own
      cache: true, // partials compiled once per template version (a new Eta when the template changes)
    });
    // An include resolves its partial's path on every call (JSON key, path joins: ~3 µs, 10,000 times per
    // full render): resolved once per (including file, name) for this template version instead.
    const resolvePathOnce = eta.resolvePath;
    if (resolvePathOnce) {
      const resolved = new Map<string, string>();
      type Resolve = NonNullable<Eta['resolvePath']>;
      eta.resolvePath = function (this: ThisParameterType<Resolve>, template: string, options?: Parameters<Resolve>[1]): string {
        const key = `${options?.filepath ?? ''}\0${template}`;
        let path = resolved.get(key);
        if (path === undefined) {
          path = resolvePathOnce.call(this, template, options);
          resolved.set(key, path);
        }
        return path;
      };
    }
    return eta;
  }

  /**
   * The template's version: size and mtime of the template and of every file beside it (its partials), so
   * an edit to a partial is picked up too.
   */
  private signature(): string {
    let stat;
    try {
      stat = statSync(this.templatePath);
    } catch (err) {
      throw new CulmError('E_TEMPLATE', `cannot read template ${this.templatePath}: ${errorMessage(err)}`, { cause: err });
    }
    const parts = [`${stat.size}:${stat.mtimeMs}`];
    const dir = dirname(this.templatePath);
    try {
      for (const name of readdirSync(dir).sort()) {
        if (!name.endsWith('.eta')) continue;
        const st = statSync(join(dir, name));
        parts.push(`${name}:${st.size}:${st.mtimeMs}`);
      }
    } catch {
      /* the main template's own stat is enough */
    }
    return parts.join('|');
  }

  /** Whether the template directory holds partial `name` (a plain file name: backend-template.ts checks it). */
  hasPartial(name: string): boolean {
    return existsSync(join(dirname(this.templatePath), name));
  }

  /** The version last compiled (changes when the template or a partial beside it changes). */
  version(): string {
    return this.compiled?.signature ?? '';
  }

  /** Compiles the template if it or a partial changed since the last call. Throws E_TEMPLATE. */
  load(): void {
    const signature = this.signature();
    if (this.compiled && this.compiled.signature === signature) return;
    try {
      const source = readFileSync(this.templatePath, 'utf8');
      this.eta = this.newEta();
      const fn = this.eta.compile(source, { filepath: this.templatePath });
      this.compiled = { signature, fn: (data) => fn.call(this.eta, data) };
      this.memo = new WeakMap();
    } catch (err) {
      this.compiled = undefined;
      throw new CulmError('E_TEMPLATE', `template ${this.templatePath} does not compile: ${errorMessage(err)}`, { cause: err });
    }
  }

  render(context: TemplateContext): string {
    this.load();
    const memo = this.memo;
    const data = {
      ...templateHelpers,
      ...lowerCaseHelpers,
      /**
       * Renders `fn()` once per view object: app views are reused while the app is unchanged, so a change to
       * one app of 10,000 renders one backend section.
       */
      memo: (key: object, fn: () => string): string => {
        let text = memo.get(key);
        if (text === undefined) {
          text = flat(fn());
          memo.set(key, text);
        }
        return text;
      },
      /** Renders `fn()`, text of one app: if it throws, the error names the app (AppRenderError). */
      forApp: (app: { Id: string; Template?: string }, fn: () => string): string => {
        try {
          return fn();
        } catch (err) {
          const what = app.Template ? `its template ${app.Template}` : 'its backend';
          throw new AppRenderError(app.Id, `app ${app.Id}: ${what} failed to render: ${errorMessage(err)}`, err);
        }
      },
      ...context,
      HAProxy: { ...context.HAProxy, TemplatePath: this.templatePath },
    };
    let text: string;
    try {
      text = this.compiled!.fn(data);
    } catch (err) {
      if (err instanceof AppRenderError) throw new AppRenderError(err.appId, `template ${this.templatePath} failed: ${err.message}`, err);
      throw new CulmError('E_TEMPLATE', `template ${this.templatePath} failed: ${errorMessage(err)}`, { cause: err });
    }
    if (text.trim().length === 0) throw new CulmError('E_TEMPLATE', `template ${this.templatePath} rendered an empty config`);
    return text.endsWith('\n') ? text : `${text}\n`;
  }
}
