// A SQL table function in JavaScript: `CREATE FUNCTION split_words AS 'udfs/js/split_words'
// LANGUAGE WASM`, then `FROM t, LATERAL TABLE(split_words(text)) AS w(word, position)`: one
// row per word of the text, with its position (0, 1, …).
import { tableFunction } from "./weir_udf.js";

export const transform = tableFunction(
  function split_words(text) {
    return text === null ? [] : text.split(/\s+/).filter((w) => w !== "").map((word, i) => [word, i]);
  },
  { args: ["STRING"] },
);
