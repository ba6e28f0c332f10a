/**
 * A small JSON Schema checker for the OpenAPI document's tests: the keywords the document uses (type, enum,
 * const, properties, required, additionalProperties, items, oneOf, anyOf, pattern, maxProperties, $ref into
 * `#/components/schemas`), and a failure for any other keyword, so the document cannot use one unchecked.
 */
type Schema = Record<string, unknown>;

const KNOWN = new Set(['type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'oneOf', 'anyOf',
  'pattern', 'maxProperties', '$ref', 'description']);

export function checkSchema(value: unknown, schema: Schema, doc: Schema, at = '$'): string[] {
  for (const key of Object.keys(schema)) if (!KNOWN.has(key)) return [`${at}: the checker does not know the keyword "${key}"`];
  if (typeof schema.$ref === 'string') return checkSchema(value, resolve(schema.$ref, doc), doc, at);
  const errors: string[] = [];
  if (schema.type !== undefined && !typeMatches(value, schema.type as string)) return [`${at}: ${JSON.stringify(value)?.slice(0, 80)} is not ${String(schema.type)}`];
  if (schema.const !== undefined && value !== schema.const) errors.push(`${at}: is not ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${schema.enum.length} values`);
  if (typeof schema.pattern === 'string' && typeof value === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${at}: does not match ${schema.pattern}`);
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => checkSchema(value, s as Schema, doc, at).length === 0)) errors.push(`${at}: matches none of anyOf`);
  if (Array.isArray(schema.oneOf)) {
    const matching = schema.oneOf.filter((s) => checkSchema(value, s as Schema, doc, at).length === 0).length;
    if (matching !== 1) errors.push(`${at}: matches ${matching} of oneOf, not exactly one`);
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errors.push(...checkSchema(v, schema.items as Schema, doc, `${at}[${i}]`)));
  if (isObject(value)) errors.push(...checkObject(value, schema, doc, at));
  return errors;
}

function checkObject(value: Record<string, unknown>, schema: Schema, doc: Schema, at: string): string[] {
  const errors: string[] = [];
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const name of (schema.required ?? []) as string[]) if (!(name in value)) errors.push(`${at}: lacks "${name}"`);
  if (typeof schema.maxProperties === 'number' && Object.keys(value).length > schema.maxProperties) errors.push(`${at}: more than ${schema.maxProperties} properties`);
  for (const [name, v] of Object.entries(value)) {
    const own = properties[name];
    if (own) errors.push(...checkSchema(v, own, doc, `${at}.${name}`));
    else if (schema.additionalProperties === false) errors.push(`${at}: "${name}" is not in the schema`);
    else if (isObject(schema.additionalProperties)) errors.push(...checkSchema(v, schema.additionalProperties, doc, `${at}.${name}`));
  }
  return errors;
}

function resolve(pointer: string, doc: Schema): Schema {
  const prefix = '#/components/schemas/';
  if (!pointer.startsWith(prefix)) throw new Error(`$ref ${pointer}: only ${prefix}… is supported`);
  const found = ((doc.components as Schema).schemas as Record<string, Schema>)[pointer.slice(prefix.length)];
  if (!found) throw new Error(`$ref ${pointer}: no such schema`);
  return found;
}

function typeMatches(value: unknown, type: string): boolean {
  switch (type) {
    case 'null': return value === null;
    case 'array': return Array.isArray(value);
    case 'object': return isObject(value);
    case 'integer': return Number.isInteger(value);
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'string': case 'boolean': return typeof value === type;
    default: throw new Error(`unknown type ${type}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The schema a documented operation gives an answer with this status and content type, or why there is none. */
export function answerSchema(doc: Schema, method: string, path: string, status: number, contentType: string): Schema | string {
  const op = ((doc.paths as Record<string, Record<string, Schema>>)[path] ?? {})[method.toLowerCase()];
  if (!op) return `${method} ${path} is not documented`;
  const responses = op.responses as Record<string, Schema>;
  const response = responses[String(status)] ?? responses.default;
  if (!response) return `${method} ${path}: no response ${status} documented`;
  const type = contentType.split(';')[0].trim();
  const media = (response.content as Record<string, Schema> | undefined)?.[type];
  if (!media) return `${method} ${path} ${status}: ${type} is not documented (${Object.keys((response.content ?? {}) as object).join(', ')})`;
  return media.schema as Schema;
}
