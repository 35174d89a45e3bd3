// npm run accept -- --stack <s> | --target host[:port] ... : post-deploy acceptance of a node.
import * as os from "node:os";
import * as path from "node:path";
import { accept } from "./accept.js";
import { markdown, table } from "./report.js";
import { parseFlags, UsageError } from "../lib/cli.js";
import { ADMIN_USER } from "../../infra/catalog/layout.js";

const USAGE = `Usage: npm run accept -- (--stack NAME | --stack-file FILE) [options]

Checks a deployed node from outside (full TCP scan of the public address, HTTPS, HSTS, redirects)
and over the admin path (cloud-init, units, timers, PostgreSQL persistence, backups and drill,
volumes, memory, time, upgrades, plaintext secrets, Node B independence). Exit 0 only if every
required check passes. Every run is appended to the history file.

Options:
  --stack NAME          stack whose plan and outputs (pulumi stack output) describe the node
  --stack-file FILE     a stack config file instead of Pulumi.NAME.yaml
  --node KEY            nodeA (default), nodeC, nodeD or a pool member (workers-1), or the server's name
  --outputs FILE        stack outputs JSON instead of asking Pulumi
  --target HOST[:PORT]  SSH endpoint (default: the node's tailnet name, or its public IPv4 with an allowlist)
  --ssh-user USER       admin user (default ${ADMIN_USER})
  --ssh-key FILE        private key for the admin user
  --public-addr ADDR    public IPv4 to test (default: from the stack outputs)
  --public-addr6 ADDR   public IPv6 to test
  --scan-from ADDR      local source address for the outside scan
  --site-ca FILE        PEM root the sites' certificates chain to (an ACME CA outside the public trust
                        store, e.g. a test CA); default: the system's public roots
  --secrets-file FILE   JSON {name: value} of the stack's secrets (default: pulumi config --show-secrets);
                        only fingerprints are compared, values are never printed
  --reboot              reboot the node and measure the time until every check is green again
  --reboot-bound S      fail the reboot check above S seconds (default 180)
  --history FILE        history file (default ~/.local/state/xiopro-infra/acceptance-history.jsonl)
  --json | --markdown   output format (default: table)
  -h, --help

Examples:
  npm run accept -- --stack prd
  npm run accept -- --stack tst --reboot --markdown
  npm run accept -- --stack-file vm.yaml --outputs out/outputs.json --target 203.0.113.10 --ssh-key id_ed25519`;

async function main(): Promise<number> {
  const v = parseFlags(
    {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      node: { type: "string", default: "nodeA" },
      outputs: { type: "string" },
      target: { type: "string" },
      "ssh-user": { type: "string", default: ADMIN_USER },
      "ssh-key": { type: "string" },
      "public-addr": { type: "string" },
      "public-addr6": { type: "string" },
      "scan-from": { type: "string" },
      "site-ca": { type: "string" },
      "secrets-file": { type: "string" },
      reboot: { type: "boolean", default: false },
      "reboot-bound": { type: "string", default: "180" },
      history: { type: "string" },
      json: { type: "boolean", default: false },
      markdown: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (typeof v === "number") return v;
  if (!v.stack === !v["stack-file"])
    return (console.error(`give exactly one of --stack and --stack-file\n\n${USAGE}`), 2);
  if (v.json && v.markdown) return (console.error("give at most one of --json and --markdown"), 2);
  const bound = Number(v["reboot-bound"]);
  if (!Number.isInteger(bound) || bound < 30)
    return (console.error(`--reboot-bound ${v["reboot-bound"]} is not a whole number of seconds >= 30`), 2);
  try {
    const result = await accept({
      stack: v.stack,
      stackFile: v["stack-file"],
      node: v.node!,
      outputsFile: v.outputs,
      target: v.target,
      sshUser: v["ssh-user"]!,
      sshKey: v["ssh-key"],
      publicAddr: v["public-addr"],
      publicAddr6: v["public-addr6"],
      scanFrom: v["scan-from"],
      siteCaFile: v["site-ca"],
      secretsFile: v["secrets-file"],
      reboot: v.reboot!,
      rebootBoundSeconds: bound,
      historyFile:
        v.history ??
        path.join(
          process.env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state"),
          "xiopro-infra",
          "acceptance-history.jsonl",
        ),
    });
    console.log(v.json ? JSON.stringify(result, null, 2) : v.markdown ? markdown(result) : table(result));
    return result.passed ? 0 : 1;
  } catch (e) {
    if (e instanceof UsageError) return (console.error(e.message), 1);
    throw e;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`accept failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
