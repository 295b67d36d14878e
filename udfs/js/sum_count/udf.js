// Aggregate: per key, the number of JSON bids and the sum of their `price`, as
// {"count": N, "sum": S} (the same as udfs/rust/sum_count).
import * as weir from "./weir_udf.js";

export const aggregate = weir.aggregate({
  create: () => [0, 0],
  add([count, sum], bid) {
    if (!Number.isInteger(bid?.price)) throw new weir.RecordError("not a bid with a price");
    return [count + 1, sum + bid.price];
  },
  merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
  result: ([count, sum]) => ({ count, sum }),
});
