// Keyed state: after a `key_by`, emits for each record how many records of its key have been
// seen so far (this one included), as {"key":"<key>","count":N} — like udfs/rust/running_count.
import { map } from "./weir_udf.js";
import { getState, setState } from "./weir_state.js";

export const transform = map(function runningCount(record) {
  const seen = getState(record, "count");
  const count = (seen ? Number(new DataView(seen.buffer, seen.byteOffset, 8).getBigUint64(0, true)) : 0) + 1;
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(count), true);
  setState(record, "count", bytes);
  return { key: record.key, count };
}, { raw: true });
