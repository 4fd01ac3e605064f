// The bench's `wrangler dev`: the same runtime, local D1 and R2, and built worker as the CLI,
// started through wrangler's programmatic API with the DevTools inspector off. With it on (the
// CLI always turns it on), wrangler enables the runtime's Network domain and relays every event
// of every subrequest (a D1 batch, an R2 put, a fetch: four events each, bodies base64-encoded)
// to its Node process as a debug log. That is local-only CPU proportional to the number of
// subrequests, absent in production; bench.sh also measures a few rows with the CLI to show it.
//   node bench/dev.mjs <wrangler config> <port> <persist dir> [NAME=value ...]
// Runs until SIGTERM or SIGINT (scripts/supervise.sh sends SIGTERM to its process group).
import { unstable_startWorker } from "wrangler";

const [config, port, persist, ...vars] = process.argv.slice(2);
const bindings = Object.fromEntries(
  vars.map((v) => {
    const i = v.indexOf("=");
    return [v.slice(0, i), { type: "plain_text", value: v.slice(i + 1) }];
  }),
);
const worker = await unstable_startWorker({
  config,
  bindings,
  dev: {
    inspector: false,
    watch: false,
    logLevel: "warn",
    persist,
    server: { hostname: "127.0.0.1", port: Number(port) },
  },
});
await worker.ready;
console.log(`Ready on ${await worker.url}`);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    await worker.dispose();
    process.exit(0);
  });
}
