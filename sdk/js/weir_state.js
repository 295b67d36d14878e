// Keyed state for JavaScript map, filter and flatMap UDFs after a `key_by`: values Weir keeps per
// key and name. `weir udf build` puts this file beside `udf.js` (for transform UDFs only).
//
//   import { getState, setState } from "./weir_state.js";
//   export const transform = map((value, record) => {
//     const count = (getState(record, "count")?.[0] ?? 0) + 1;   // bytes in, bytes out
//     setState(record, "count", new Uint8Array([count]));
//     ...
//   });
import { get, set, clear } from "weir:udf/keyed-state@0.1.0";

/** The value (Uint8Array) of state `name` for `record`'s key, or undefined. */
export function getState(record, name) {
  return get(record.index, name);
}

/** Sets state `name` (a Uint8Array) for `record`'s key. */
export function setState(record, name, value) {
  set(record.index, name, value);
}

/** Removes state `name` for `record`'s key. */
export function clearState(record, name) {
  clear(record.index, name);
}
