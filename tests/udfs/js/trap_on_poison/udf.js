// Passes values through, but throws on a value containing `poison` (a bug, not a bad record).
import { map } from "./weir_udf.js";

function check(value) {
  if (value.includes("poison")) throw new TypeError(`poison record: ${value}`);
  return value;
}

export const transform = map(function passUnlessPoison(record) {
  return check(record.value);
}, { raw: true });
