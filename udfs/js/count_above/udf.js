// A SQL aggregate function in JavaScript: `CREATE FUNCTION count_above AS 'udfs/js/count_above'
// LANGUAGE WASM`, then `SELECT auction, count_above(price, 500) … GROUP BY auction,
// window_start, window_end`: how many of a group's values are above the limit. SQL passes each
// row's arguments as an array; the host keeps the accumulator.
import * as weir from "./weir_udf.js";

export const aggregate = weir.aggregate({
  create: () => 0,
  add(count, args) {
    const [value, limit] = Array.isArray(args) ? args : [];
    if (!Number.isInteger(value) || !Number.isInteger(limit)) {
      throw new weir.RecordError(`count_above takes two BIGINTs, not ${JSON.stringify(args)}`);
    }
    return value > limit ? count + 1 : count;
  },
  merge: (a, b) => a + b,
  result: (count) => count,
});
