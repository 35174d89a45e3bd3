// Runs scanTcp inside a network namespace for test/scripts/accept/scan.test.ts: argv = host, options as JSON.
import { scanTcp } from "../../scripts/accept/scan.js";

const [host, opts] = process.argv.slice(2);
scanTcp(host!, JSON.parse(opts ?? "{}")).then(
  (r) => console.log(JSON.stringify(r)),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
