// Builds the package (dist/: ESM for npm, with ./react) and the browser bundle the ingress
// serves as /static/agents.js (serve/static/agents.js: one file, no imports). Declarations
// come from `tsc -p tsconfig.build.json` (npm run build runs both).
// `node build.mjs --check`: fail if serve/static/agents.js is not what the sources build.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const common = { bundle: true, format: "esm", target: "es2022", platform: "neutral", logLevel: "warning" };

const check = process.argv.includes("--check");
const browser = {
  ...common,
  entryPoints: [here("src/index.ts")],
  outfile: here("../../serve/static/agents.js"),
  banner: {
    js: "// ray-agents browser client, built from clients/js (cd clients/js && npm run build): do not edit.\n// import { AgentClient } from \"/static/agents.js\"; see docs/protocol.md and the README's \"Web clients\".",
  },
};

if (check) {
  const built = (await build({ ...browser, write: false })).outputFiles[0].text;
  if (built !== readFileSync(browser.outfile, "utf8")) {
    console.error("serve/static/agents.js is stale: run `npm run build` in clients/js and commit it");
    process.exit(1);
  }
  process.exit(0);
}

await build({
  ...common,
  entryPoints: { index: here("src/index.ts"), react: here("src/react.ts") },
  outdir: here("dist"),
  splitting: true,
  external: ["react"],
  sourcemap: true,
});

await build(browser);
