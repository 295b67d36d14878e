// Weir UDFs in JavaScript: a plain function, wrapped by one helper and exported.
//
//   import { map } from "./weir_udf.js";
//   export const transform = map((bid) => ({ ...bid, price_eur: Math.floor(bid.price * 908 / 1000) }));
//
// Weir calls a UDF once per batch of records, the batch as a few flat lists (the
// `weir:udf@0.1.0` WIT interface); this module hides that layout. A record's value
// is parsed as JSON and your function gets the parsed value and the record
// (`{ key, value, timestamp }`, key and value as strings); what it returns is
// written back as compact JSON (a string as it is, a Uint8Array as bytes). Pass
// `{ raw: true }` to get the record alone, unparsed.
//
// `throw new RecordError("why")` rejects one record: it goes to the job's
// dead-letter sink and the batch carries on. A value that is not JSON is rejected
// the same way. Any other exception is a bug in the UDF: its stack is printed and
// the call traps, and Weir reports it like a Rust panic, naming the module, the
// export and the record.
//
// Helpers: map, filter, flatMap, and SQL's scalar and tableFunction (export them as
// `transform`), keySelector (export as `keySelector`), aggregate (export as `aggregate`).
// `weir udf build` copies this file beside your `udf.js`.

/** Rejects the current record (it goes to the dead-letter sink). */
export class RecordError extends Error {}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parse(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RecordError(`not JSON: ${e.message}`);
  }
}

function encode(value) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  return encoder.encode(JSON.stringify(value));
}

/** Calls `visit(index, record)` for every record of a WIT batch. */
function eachRecord(batch, visit) {
  const { data, ends, timestamps, recordFlags } = batch;
  let start = 0;
  for (let i = 0; i < timestamps.length; i++) {
    const keyEnd = ends[2 * i];
    const valueEnd = ends[2 * i + 1];
    const key = recordFlags[i] & 1 ? data.subarray(start, keyEnd) : null;
    visit(i, { key, value: data.subarray(keyEnd, valueEnd), timestamp: timestamps[i], index: i });
    start = valueEnd;
  }
}

/** A batch being written, in the WIT layout. */
class Output {
  constructor() {
    this.chunks = [];
    this.length = 0;
    this.ends = [];
    this.timestamps = [];
    this.flags = [];
  }
  push(key, value, timestamp) {
    if (key !== null) this.append(key);
    this.ends.push(this.length);
    this.append(value);
    this.ends.push(this.length);
    this.timestamps.push(timestamp);
    this.flags.push(key === null ? 0 : 1);
  }
  append(bytes) {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }
  batch() {
    return {
      data: concat(this.chunks, this.length),
      ends: new Uint32Array(this.ends),
      timestamps: new BigInt64Array(this.timestamps),
      recordFlags: new Uint8Array(this.flags),
    };
  }
}

function concat(chunks, length) {
  const data = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  return data;
}

function blobs(items) {
  const ends = [];
  let length = 0;
  for (const item of items) {
    length += item.length;
    ends.push(length);
  }
  return { data: concat(items, length), ends: new Uint32Array(ends) };
}

function* unblob({ data, ends }) {
  let start = 0;
  for (const end of ends) {
    yield data.subarray(start, end);
    start = end;
  }
}

/** The record as the UDF sees it: key and value as text. */
function view(record) {
  return {
    key: record.key === null ? null : decoder.decode(record.key),
    value: decoder.decode(record.value),
    timestamp: record.timestamp,
    index: record.index,
  };
}

/** Runs `body` on every record, turning RecordErrors into WIT errors and printing bugs. */
function forEach(batch, name, options, body) {
  const errors = [];
  eachRecord(batch, (i, record) => {
    try {
      const seen = view(record);
      body(options.raw ? seen : parse(seen.value), seen, record, i);
    } catch (e) {
      if (e instanceof RecordError) {
        errors.push({ index: i, message: e.message });
        return;
      }
      const preview = decoder.decode(record.value.subarray(0, 200));
      const what = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
      console.error(`weir_udf: \`${name}\` threw on record ${i} (${JSON.stringify(preview)}):\n${what}`);
      throw e;
    }
  });
  return errors;
}

/** One output record per input record: what `fn(value, record)` returns. */
export function map(fn, options = {}) {
  return {
    process(batch) {
      const out = new Output();
      const errors = forEach(batch, fn.name || "map", options, (value, seen, record) => {
        const result = fn(value, seen);
        if (result === undefined || result === null) throw new RecordError("the map returned nothing");
        out.push(record.key, encode(result), record.timestamp);
      });
      return { output: out.batch(), errors };
    },
  };
}

/** Keeps the records for which `fn(value, record)` is true (unchanged). */
export function filter(fn, options = {}) {
  return {
    process(batch) {
      const out = new Output();
      const errors = forEach(batch, fn.name || "filter", options, (value, seen, record) => {
        if (fn(value, seen)) out.push(record.key, record.value, record.timestamp);
      });
      return { output: out.batch(), errors };
    },
  };
}

/** Any number of output records per input: each item `fn(value, record)` returns. */
export function flatMap(fn, options = {}) {
  return {
    process(batch) {
      const out = new Output();
      const errors = forEach(batch, fn.name || "flatMap", options, (value, seen, record) => {
        for (const item of fn(value, seen) ?? []) out.push(record.key, encode(item), record.timestamp);
      });
      return { output: out.batch(), errors };
    },
  };
}

const SQL_TYPES = {
  BIGINT: (v) => Number.isInteger(v),
  DOUBLE: (v) => typeof v === "number",
  STRING: (v) => typeof v === "string",
  BOOLEAN: (v) => typeof v === "boolean",
};

/** `fn` called with a row's SQL arguments (a JSON array), checked against `options.args`. */
/** Whether `args` asks for the function's signature (`weir sql` does, at plan time). */
function isSignatureRequest(args) {
  return args !== null && typeof args === "object" && !Array.isArray(args) && args["weir:signature"] === true;
}

/** A SQL function's signature: its arguments' SQL types (`ANY` where undeclared). */
function signature(fn, options) {
  const count = options.args ? options.args.length : fn.length;
  return { args: options.args ?? Array(count).fill("ANY") };
}

function typedCall(fn, options) {
  const types = options.args ?? null;
  const count = types ? types.length : fn.length;
  const name = options.name || fn.name || "the function";
  for (const type of types ?? []) {
    if (!(type in SQL_TYPES)) throw new Error(`${name}: argument type ${type} is not one of ${Object.keys(SQL_TYPES).join(", ")}`);
  }
  return (args) => {
    if (!Array.isArray(args) || args.length !== count) {
      throw new RecordError(`${name} takes ${count} argument(s), not ${JSON.stringify(args)}`);
    }
    args.forEach((value, i) => {
      const type = types?.[i];
      if (type && value !== null && !SQL_TYPES[type](value)) {
        throw new RecordError(`argument ${i + 1} of ${name} is ${JSON.stringify(value)}, not a ${type}`);
      }
    });
    return fn(...args);
  };
}

/**
 * A SQL scalar function (`CREATE FUNCTION name AS 'module' LANGUAGE WASM`): `fn(a, b, …)` gets
 * each row's arguments and returns its result, written as JSON. `{ args: ["BIGINT", "STRING"] }`
 * checks their types (BIGINT, DOUBLE, STRING, BOOLEAN; null is SQL NULL): a row with another
 * rejects itself, naming the argument. Export it as `transform`.
 */
export function scalar(fn, options = {}) {
  const call = typedCall(fn, options);
  return map((args) =>
    JSON.stringify(isSignatureRequest(args) ? signature(fn, options) : (call(args) ?? null)),
  );
}

/**
 * A SQL table function (`LATERAL TABLE(name(…)) AS t(a, b)`): `fn(a, b, …)` returns (or
 * yields) the rows for one row's arguments, each a value for one column, an array for several
 * in the order `AS t(…)` names them, or an object by name. Arguments as for `scalar` (`name`
 * names the function in errors, for an anonymous one). Export it as `transform`.
 */
export function tableFunction(fn, options = {}) {
  const call = typedCall(fn, options);
  return flatMap((args) =>
    isSignatureRequest(args)
      ? [JSON.stringify(signature(fn, options))]
      : [...(call(args) ?? [])].map((row) => JSON.stringify(row)),
  );
}

/** The key of each record: what `fn(value, record)` returns (string, number, bytes or JSON). */
export function keySelector(fn, options = {}) {
  return {
    selectKeys(batch) {
      const keys = [];
      const errors = forEach(batch, fn.name || "keySelector", options, (value, seen) => {
        const key = fn(value, seen);
        keys.push(typeof key === "number" || typeof key === "bigint" ? encoder.encode(String(key)) : encode(key));
      });
      return { keys: blobs(keys), errors };
    },
  };
}

/**
 * An aggregate function from `{ create(), add(acc, value, record), merge(a, b), result(acc) }`.
 * Accumulators are kept by the host as JSON; `add` and `merge` return the new accumulator.
 */
export function aggregate(udf, options = {}) {
  const load = (bytes) => JSON.parse(decoder.decode(bytes));
  return {
    createAccumulator() {
      return encode(udf.create());
    },
    add(accumulators, groups, batch) {
      const accs = [...unblob(accumulators)].map(load);
      const errors = forEach(batch, "add", options, (value, seen, record, i) => {
        const group = groups[i];
        accs[group] = udf.add(accs[group], value, seen);
      });
      return { accumulators: blobs(accs.map(encode)), errors };
    },
    merge(left, right) {
      const rights = [...unblob(right)];
      return blobs([...unblob(left)].map((a, i) => encode(udf.merge(load(a), load(rights[i])))));
    },
    getResult(accumulators) {
      return blobs([...unblob(accumulators)].map((acc) => encode(udf.result(load(acc)))));
    },
  };
}
