// Formats an auction's aggregate ({"count": N, "sum": S}, keyed by auction) as one
// line of text for people.
import { map } from "./weir_udf.js";

export const transform = map(function format({ count, sum }, record) {
  return `auction ${record.key}: ${count} bids, ${sum} in all, ${Math.floor(sum / count)} on average`;
});
