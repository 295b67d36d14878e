// Nexmark q1: a bid's price in euros (price * 908 / 1000, rounded down), added as
// `price_eur`. A bid without an integer price is rejected to the dead-letter sink.
import { map, RecordError } from "./weir_udf.js";

export const transform = map(function convert(bid) {
  if (!Number.isInteger(bid?.price)) throw new RecordError("not a bid with an integer price");
  bid.price_eur = Math.floor((bid.price * 908) / 1000);
  return bid;
});
