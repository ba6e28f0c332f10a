/**
 * Every error code culm raises, in one catalog: what it means and, where a REST answer carries it, its HTTP
 * status. `CulmError` only takes these (a typo is a compile error), and the README's "Error codes" table is
 * generated from this list (test/unit/readme.test.ts keeps it in sync). Codes are stable: tests and REST
 * clients switch on them, never on messages.
 */
export const ERROR_CODES = {
  // REST API: the request
  E_BAD_JSON: { status: 400, doc: 'The body is not valid JSON.' },
  E_BAD_BODY: { status: 400, doc: 'The body is JSON but not the shape the route takes (e.g. not an object, a field of the wrong type).' },
  E_BAD_PATH: { status: 400, doc: 'The id in the path is not valid percent-encoding.' },
  E_ID_CONFLICT: { status: 400, doc: 'The body names another id than the path.' },
  E_BODY_TOO_LARGE: { status: 413, doc: 'The body is larger than the route accepts.' },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'A write whose Content-Type is neither JSON nor a form.' },
  E_NOT_FOUND: { status: 404, doc: 'No such route.' },
  E_APP_NOT_FOUND: { status: 404, doc: 'No app with this id: Marathon runs none (`GET /api/apps/{id}`).' },
  E_METHOD_NOT_ALLOWED: { status: 405, doc: 'The route exists but not with this method.' },
  E_UNAUTHORIZED: { status: 401, doc: 'Write (or, with CULM_API_READ_AUTH, read) authentication is on and the token or credentials are missing or wrong.' },
  E_AUTH_BUSY: { status: 429, doc: 'Too many password checks at once; retry shortly.' },
  E_HOST_NOT_ALLOWED: { status: 403, doc: 'The Host header is not one of CULM_ALLOWED_HOSTS (DNS rebinding).' },
  E_CROSS_ORIGIN: { status: 403, doc: 'A browser write from another origin (Origin or Sec-Fetch-Site says so).' },
  E_INTERNAL: { status: 500, doc: 'An unexpected failure inside culm (logged with its stack).' },
  E_NO_CONFIG: { status: 404, doc: 'No HAProxy config has been applied yet.' },
  E_NO_DIFF: { status: 404, doc: 'No diff is kept under this id: only the last 50 applies keep theirs.' },
  E_TOO_MANY_STREAMS: { status: 429, doc: 'As many `/api/events` streams are open as culm keeps (32); retry shortly.' },
  E_CALLBACKS_DISABLED: { status: 404, doc: 'A Marathon event callback arrived while culm is not in callback mode.' },
  // Rules
  E_RULE_ID: { status: 400, doc: 'The rule id is not a Marathon app id.' },
  E_RULE_INVALID: { status: 400, doc: "The rule is not valid (e.g. an empty ACL, a `Config.template` that names no partial of the template directory, or a backend setting in its Config map that fails its grammar: `balance`, `sticky`, `weight`, `maxconn`, `timeoutServer`)." },
  E_RULE_NOT_FOUND: { status: 404, doc: 'No rule with this id.' },
  E_RULE_CONFIG: { status: 400, doc: "A key or value of the rule's Config map has a newline or control character." },
  E_RULE_ACL: { status: 400, doc: 'The ACL is refused (a more specific E_RULE_ACL_* code says why, where there is one).' },
  E_RULE_ACL_SYNTAX: { status: 400, doc: 'ACL syntax culm does not pass on: quotes, parentheses, escapes, comments, length.' },
  E_RULE_ACL_ENV: { status: 400, doc: 'The ACL uses environment expansion (it could read culm\'s secrets).' },
  E_RULE_ACL_FETCH: { status: 400, doc: 'Unknown fetch or converter, or bad arguments.' },
  E_RULE_ACL_FLAG: { status: 400, doc: 'Unknown flag or match method, or a flag without its value.' },
  E_RULE_ACL_FILE: { status: 400, doc: 'A pattern file outside HAProxy.AclFilesDir, or one that cannot be read.' },
  E_RULE_ACL_OPERATOR: { status: 400, doc: '`||`, `!` or `or` in an ACL line.' },
  E_RULE_ACL_PATTERN: { status: 400, doc: 'A pattern HAProxy would resolve at start (a host name where an IP is expected).' },
  E_RULE_ACL_LIMIT: { status: 400, doc: 'Too many patterns or too long an ACL.' },
  E_RULE_RENDER: { status: 400, doc: 'The template cannot render this rule.' },
  E_CONFIG_INVALID: { status: 400, doc: '`haproxy -c` refuses the config (at a rule PUT: the config with this rule); HAProxy\'s reason is in the message.' },
  E_TOO_MANY_RULE_CHECKS: { status: 429, doc: 'Too many rule changes are being checked at once; retry shortly.' },
  E_VALIDATION_LIMIT: { status: 503, doc: 'The validation command went over HAProxy.ValidationCpuSeconds or ValidationMemoryMiB and was stopped.' },
  E_VALIDATION_TIMEOUT: { status: 503, doc: 'The validation command did not finish in time, or was killed by a signal culm did not send (retried, not taken for a rejection).' },
  // Stores
  E_STORE_UNAVAILABLE: { status: 503, doc: 'The rule store cannot take writes now (ZooKeeper unreachable or session expired); nothing was written.' },
  E_STORE_CONFLICT: { status: 409, doc: 'Another writer changed the rule at the same time; read it again and retry.' },
  E_STORE_FORBIDDEN: { status: 503, doc: 'ZooKeeper refuses the write (node ACLs, Bamboo.Zookeeper.Auth).' },
  // Applying a config (in /api/history and the log)
  E_RENDER: { doc: 'The template failed to render; the applied config is unchanged.' },
  E_TEMPLATE: { doc: 'The template does not compile or cannot be read.' },
  E_WRITE: { doc: 'A config, map or state file could not be written.' },
  E_RELOAD_FAILED: { doc: 'The reload command failed; the last good config is put back and the apply retried.' },
  E_RUNTIME: { doc: "A runtime API command failed or its answer was not understood; culm reloads instead." },
  E_APPLY: { doc: 'An apply failed in an unexpected way (retried).' },
  E_STOPPING: { doc: 'culm is stopping: the change waiting for an apply will not get one.' },
  // Start-up
  E_CONFIG: { doc: "culm's own configuration is invalid (exit status 2, the message names the key)." },
  E_CALLBACK_TOKEN_FILE: { doc: 'The callback token file exists but cannot be read.' },
  // Marathon (seen from culm's REST API, a failing Marathon is a bad upstream: 502, a slow one 504)
  E_MARATHON_CONNECT: { status: 502, doc: 'No HTTP answer at all: connection refused or reset, DNS, TLS.' },
  E_MARATHON_HTTP: { status: 502, doc: 'A failing status with no more specific code.' },
  E_MARATHON_AUTH: { status: 502, doc: "401/403 from Marathon: Marathon.User / Password are wrong or missing." },
  E_MARATHON_NOT_FOUND: { status: 502, doc: '404: unknown app, or an API this Marathon version lacks.' },
  E_MARATHON_TIMEOUT: { status: 504, doc: 'No answer within Marathon.RequestTimeoutMs; for the event stream, no byte within the watchdog.' },
  E_MARATHON_CONTENT_TYPE: { status: 502, doc: 'A success status with a body that is not JSON or not an event stream (an HTML page, a proxy login form).' },
  E_MARATHON_BODY: { status: 502, doc: 'JSON that does not parse or lacks the shape culm needs.' },
  E_MARATHON_REDIRECT: { status: 502, doc: 'Too many redirects (a loop between non-leaders).' },
  E_MARATHON_ABORTED: { status: 502, doc: 'The request was aborted (culm stopping, a newer request replacing it).' },
  E_CALLBACKS_UNAVAILABLE: { status: 502, doc: 'Marathon has no http_callback event subscriptions (1.4 without the flag, or 1.5+): use SSE.' },
} as const satisfies Record<string, { status?: number; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The README's table of codes (status, meaning), in catalog order. */
export function errorCodesMarkdown(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, e]) => `| \`${code}\` | ${'status' in e ? e.status : ''} | ${e.doc} |`);
  return ['| code | HTTP status | meaning |', '|---|---|---|', ...rows].join('\n');
}
