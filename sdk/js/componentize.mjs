// Builds a JavaScript UDF into a component: `node componentize.mjs COMPONENTIZE_JS SOURCE WIT WORLD OUT`.
// Run by `weir udf build`; COMPONENTIZE_JS is the installed package's entry module.
import { writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const [componentizeJs, sourcePath, witPath, worldName, out] = process.argv.slice(2);
const { componentize } = await import(pathToFileURL(componentizeJs).href);
const { component } = await componentize({
  sourcePath,
  witPath,
  worldName,
  // Weir's linker offers WASI's CLI, clocks, random and stdio, not HTTP (PROBES.md).
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(out, component);
