import { z } from 'zod';
import { AdminHttpError } from './errors.js';

// The admin API's input checks are zod schemas. A refusal (400) names what was wrong first
// ("limit must be at most 10000", "text: expected a string, not a number"): operators' scripts
// read these reasons, so they are part of the API.

/** The field or query parameter an issue is about: the first step of its path. */
function nameOf(issue: { readonly path?: readonly PropertyKey[] | undefined }): string {
  return String(issue.path?.[0] ?? '');
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * A schema's own message: `rule` read after the name of the field, `limit must be …`. A missing
 * field is left to {@link phrase} ("is required").
 */
function mustBe(rule: string) {
  return {
    error: (issue: z.core.$ZodRawIssue) =>
      issue.code === 'invalid_type' && issue.input === undefined
        ? undefined
        : `${nameOf(issue)} must be ${rule}`,
  };
}

/** zod's own issues, worded as the API words its refusals. */
const phrase: z.core.$ZodErrorMap = (issue) => {
  const name = nameOf(issue);
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `${name} is required`
        : `expected a ${issue.expected}, not ${describe(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'string') {
        return issue.minimum === 1
          ? `${name} must not be empty`
          : `${name} must be at least ${issue.minimum} characters`;
      }
      return `${name} must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `${name} must be at most ${issue.maximum} characters`;
      return `${name} must be at most ${issue.maximum}`;
    case 'invalid_value':
      return `${name} must be one of ${issue.values.join(', ')}`;
    default:
      return undefined;
  }
};

/**
 * A JSON body or a query with exactly these fields: any other is refused as
 * `unknown ${where} "name"`, so that a misspelt option is never silently ignored.
 */
function exactly<S extends z.ZodRawShape>(shape: S, where: 'field' | 'query parameter') {
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown ${where} "${issue.keys[0]}"`;
      if (issue.code === 'invalid_type')
        return `expected a JSON object, not ${describe(issue.input)}`;
      return undefined;
    },
  });
}

/** A JSON body with exactly these fields. */
export function jsonFields<S extends z.ZodRawShape>(shape: S) {
  return exactly(shape, 'field');
}

/**
 * A query with exactly these parameters. Give it an object without a prototype (as the
 * handler builds it): with one, `?__proto__=x` would be lost rather than refused.
 */
export function queryParameters<S extends z.ZodRawShape>(shape: S) {
  return exactly(shape, 'query parameter');
}

/**
 * `value` as `schema` reads it, or a 400 whose reason is the first issue, starting with the name
 * of the field. An unknown field is reported before the rest: a misspelt name is the likeliest
 * cause of any "is required" that follows it.
 */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value, { error: phrase });
  if (result.success) return result.data;
  const { issues } = result.error;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  const name = nameOf(issue);
  const reason =
    name === '' || issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
  throw new AdminHttpError('BAD_REQUEST', reason, { cause: result.error });
}

/** A query parameter of decimal digits, from `min` (default 0) to `max`. */
export function integer(options: { min?: number; max?: number } = {}) {
  return z
    .string()
    .regex(/^[0-9]{1,16}$/, mustBe('a non-negative integer'))
    .transform(Number)
    .pipe(
      z
        .number()
        .min(options.min ?? 0)
        .max(options.max ?? Number.MAX_SAFE_INTEGER),
    );
}

/** A string that `test` accepts, else refused as `${name} must be ${rule}`. */
export function matching(test: (text: string) => boolean, rule: string) {
  return z.string(mustBe(rule)).refine(test, mustBe(rule));
}

/** A string that `convert` turns into a value, else refused as `${name} must be ${rule}`. */
export function converted<T>(convert: (text: string) => T | undefined, rule: string) {
  // Awaited: zod types a transform's result so, as a transform may be async (this one is not).
  return z
    .string(mustBe(rule))
    .transform(convert)
    .pipe(z.custom<Awaited<T>>((value) => value !== undefined, mustBe(rule)));
}

/** A moment as Unix seconds or an ISO date (`2026-05-01`, `2026-05-01T12:00:00Z`). */
export const time = converted((text) => {
  if (/^[0-9]{1,12}$/.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(ms) || ms < 0 ? undefined : Math.floor(ms / 1000);
}, 'Unix seconds or an ISO date');

/** A comma-separated list of `values` (empty items left out). */
export function listOf<const T extends readonly string[]>(values: T) {
  return z
    .string()
    .transform((text) => text.split(',').filter((item) => item !== ''))
    .pipe(z.array(z.enum(values, mustBe(`a comma-separated list of ${values.join(', ')}`))));
}

/** A JSON number that is a whole number from `min` to `max`, else refused naming the range. */
export function wholeNumber(options: { min: number; max: number }) {
  const rule = mustBe(`a whole number from ${options.min} to ${options.max}`);
  return z
    .number(rule)
    .refine((n) => Number.isSafeInteger(n) && n >= options.min && n <= options.max, rule);
}
