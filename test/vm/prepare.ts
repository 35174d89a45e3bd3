// Prepares a VM run of tst's Node A with local-only settings that are real product options:
// admin path `allowlist` and NTP from the test network, and either the default path's kinds or
// the closed-network ones:
//   XIOPRO_VM_ACME_ROOT=FILE  tls acme against the test network's Pebble (acmeDirectory, and FILE
//                             as acmeCaRoot); without it, tls internal (the container variant)
//   XIOPRO_VM_SFTP_KEY=FILE   an sftp repository on the Storage Box stand-in (test/vm/box.sh),
//                             FILE the sub-account's private key; without it, a posix directory
//   XIOPRO_VM_OFFSITE_KEY=FILE  backup.offsite: an sftp repository on a second box.sh at another
//                             address (a provider outside Hetzner), FILE its account's private key
//   XIOPRO_VM_BAKED=1         Node A has `baked: true`; bake.user-data.yaml and the set's hash
//                             (deliveries.json `bake`) are what test/vm/bake.sh runs
// Writes into WORK: Pulumi.vm.yaml, secrets.json (every secret value, for the
// plaintext check), credentials/<file> (one value per file) and deliveries.json (the exact remote
// commands Pulumi's Credentials component runs) and ops.b64 (the operations bundle Pulumi pushes).
// With XIOPRO_E2E_RECEIVER=1 (npm run test:e2e -- --receiver) the stack also has Node C running a
// synchronous WAL receiver, whose deliveries go into deliveries.json as `receiver`.
// Usage: tsx test/vm/prepare.ts WORK SSH_PUBLIC_KEY_FILE
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { opsBundle } from "../../cloud-init/ops-bundle.js";
import {
  APPLY_OPS_COMMAND,
  applyConfigCommand,
  CONFIRM_CONFIG_COMMAND,
  FIRST_BACKUP_COMMAND,
  GROW_VOLUMES_COMMAND,
  installCommand,
} from "../../infra/components/credentials.js";
import { loadConfig } from "../../infra/config/load.js";
import { parseStackYaml } from "../../infra/config/stack-file.js";
import { buildPlan } from "../../infra/plan/index.js";
import { renderBakeUserData } from "../../cloud-init/bake.js";
import { bakeTargets } from "../../scripts/bake/bake.js";
import { WAL_RECEIVER } from "../../infra/catalog/layout.js";

/** Pebble on the test network's gateway (test/vm/acme.sh). */
const VM_ACME_DIRECTORY = "https://203.0.113.1:14000/dir";
/** The Storage Box stand-in (test/vm/box.sh): run.sh reads these from the plan's outputs. */
const VM_STORAGE_BOX = { host: "203.0.113.23", port: 23, user: "u-box", path: "/xiopro" };
/** The off-site repository's SFTP server (a second test/vm/box.sh): run.sh reads it from deliveries.json. */
const VM_OFFSITE = { host: "203.0.113.24", port: 23, user: "u-offsite", path: "/offsite" };

/** The e2e's balanced site on Node C (XIOPRO_E2E_RECEIVER): run.sh reads it from deliveries.json. */
const BALANCED_SITE = { hostname: "shop.tst.xiopro.example", upstreamPort: 8081, balancerIp: "10.1.1.5" };

const [work, pubKeyFile] = process.argv.slice(2);
if (!work || !pubKeyFile) throw new Error("usage: tsx test/vm/prepare.ts WORK SSH_PUBLIC_KEY_FILE");
const root = path.resolve(import.meta.dirname, "..", "..");
const base = parse(fs.readFileSync(path.join(root, "Pulumi.tst.yaml"), "utf8")) as { config: Record<string, unknown> };
const c = base.config;
const k = (key: string) => `xiopro-infra:${key}`;
c[k("sshPublicKeys")] = [fs.readFileSync(pubKeyFile, "utf8").trim()];
c[k("adminPath")] = { mode: "allowlist", sshAllowlist: ["203.0.113.1/32"] };
const acmeRoot = process.env.XIOPRO_VM_ACME_ROOT;
const sftpKey = process.env.XIOPRO_VM_SFTP_KEY;
const offsiteKey = process.env.XIOPRO_VM_OFFSITE_KEY;
c[k("ingress")] = acmeRoot
  ? {
      ...(c[k("ingress")] as object),
      tls: "acme",
      acmeEmail: "ops@xiopro.example",
      acmeDirectory: VM_ACME_DIRECTORY,
      acmeCaRoot: fs.readFileSync(acmeRoot, "utf8"),
    }
  : { ...(c[k("ingress")] as object), tls: "internal" };
c[k("backup")] = {
  ...(c[k("backup")] as object),
  repository: sftpKey ? { kind: "sftp", ...VM_STORAGE_BOX } : { kind: "posix", path: "/var/backups/xiopro" },
  ...(offsiteKey ? { offsite: { kind: "sftp", ...VM_OFFSITE } } : {}),
};
c[k("timeSync")] = { servers: ["203.0.113.1"] };
// The container variant boots Debian 12 (test/e2e); the VM boots the stack's own image.
if (process.env.XIOPRO_NODE_IMAGE) (c[k("nodeA")] as { image: string }).image = process.env.XIOPRO_NODE_IMAGE;
const baked = process.env.XIOPRO_VM_BAKED === "1";
if (baked) (c[k("nodeA")] as { baked?: boolean }).baked = true;
// Grafana installs from apt.grafana.com, which this machine cannot reach: the VM runs the rest of
// monitoring; alert delivery points at the test host, so Alertmanager gets both credentials.
const nodeA = c[k("nodeA")] as { services: string[]; volumes: { mountPoint: string; attachTimeoutSeconds?: number }[] };
nodeA.services = nodeA.services.filter((s) => s !== "grafana");
// The volume without the database is the one the VM proof lets never arrive during first boot
// (missing-volume.sh): a 60 s bound instead of the default 300 keeps that wait short. The proof
// attaches the database's volume seconds after first boot starts waiting for it.
for (const v of nodeA.volumes) if (v.mountPoint !== "/var/lib/postgresql") v.attachTimeoutSeconds = 60;
c[k("monitoring")] = {
  email: { to: ["ops@xiopro.example"], from: "alerts@xiopro.example", smarthost: "203.0.113.1:25", username: "alerts" },
  webhook: { url: "https://203.0.113.1/alerts" },
};
// A value with every character the env file must carry literally: run.sh reads it back through
// systemd (EnvironmentFile=) and compares byte for byte.
const ENV_PROBE = "50% of ${HOME} and $USER: \"double\" 'single' \\back\\slash `tick` #not-a-comment ;semi %h";
const agentd = (c[k("agentd")] ?? {}) as { environment?: Record<string, string> };
c[k("agentd")] = { ...agentd, environment: { ...agentd.environment, XIOPRO_QUOTING_PROBE: ENV_PROBE } };
fs.writeFileSync(path.join(work, "env-probe.txt"), ENV_PROBE);
// pgvector (an option of the postgresql service) is packaged for Debian 13's PostgreSQL, not 12's:
// the VM installs and creates it, and acceptance checks the extension in the platform database.
if ((c[k("nodeA")] as { image?: string }).image !== "debian-12") c[k("postgresql")] = { pgvector: true };
const withReceiver = process.env.XIOPRO_E2E_RECEIVER === "1";
if (withReceiver) {
  // Node C also runs an agent worker: it logs in to Node A's database over the private network.
  c[k("nodeC")] = {
    enabled: true,
    serverType: "cpx22",
    publicIpv6: false,
    services: [
      "wal-receiver",
      "agentd-worker",
      // A site behind the load balancer: Caddy answers its HTTP from the balancer's private address
      // alone; run.sh starts the upstream (the owner deploys a custom service) and stands in for the
      // balancer from BALANCER_IP.
      "ingress",
      {
        name: "shop",
        interfaces: [
          {
            port: BALANCED_SITE.upstreamPort,
            class: "D",
            owner: "e2e",
            justification: "Upstream of the balanced site (started by test/e2e/run.sh)",
          },
        ],
      },
    ],
  };
  c[k("wal-receiver")] = { synchronous: true };
  const ingress = c[k("ingress")] as { sites: { hostname: string; service: string }[] };
  ingress.sites = [...ingress.sites, { hostname: BALANCED_SITE.hostname, service: "shop" }];
  c[k("loadBalancer")] = { type: "lb11", privateIp: BALANCED_SITE.balancerIp, targets: ["nodeC"] };
}
const stackFile = path.join(work, "Pulumi.vm.yaml");
fs.writeFileSync(
  stackFile,
  `# Generated by test/vm/prepare.ts from Pulumi.tst.yaml for the local VM proof.\n${stringify(base)}`,
);

const file = parseStackYaml(fs.readFileSync(stackFile, "utf8"), "Pulumi.vm.yaml");
if (!file.ok) throw new Error(JSON.stringify(file.problems));
const loaded = loadConfig(file.raw, { requireSecrets: false });
if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems, null, 2));
const plan = buildPlan(loaded.config, "vm");
const node = plan.nodes.find((n) => n.key === "nodeA")!;

const secrets: Record<string, string> = {};
const credentialDir = path.join(work, "credentials");
fs.mkdirSync(credentialDir, { recursive: true, mode: 0o700 });
/** One value per secret file, shared by every node that gets it (as the stack's generated ones are). */
function deliveriesFor(n: typeof node): { file: string; command: string }[] {
  return n.secrets.map((s) => {
    const key = s.configKey ? `${s.configKey}${s.configEntry ? `.${s.configEntry}` : ""}` : s.file;
    if (!(key in secrets)) {
      // The sub-account's key must be a real one the Storage Box stand-in accepts.
      const value =
        key === "backupSftpPrivateKey" && sftpKey
          ? fs.readFileSync(sftpKey, "utf8")
          : key === "backupOffsiteSftpPrivateKey" && offsiteKey
            ? fs.readFileSync(offsiteKey, "utf8")
            : randomBytes(24).toString("base64url");
      secrets[key] = value;
      fs.writeFileSync(path.join(credentialDir, s.file), value, { mode: 0o600 });
    }
    return { file: s.file, command: installCommand(s) };
  });
}
const deliveries = deliveriesFor(node);
// The snapshot's user-data and hash exactly as `npm run bake -- --node nodeA` would use them.
const bakeSet = baked ? bakeTargets(plan, ["nodeA"])[0]!.set : undefined;
if (bakeSet) fs.writeFileSync(path.join(work, "bake.user-data.yaml"), renderBakeUserData(bakeSet));
const nodeC = plan.nodes.find((n) => n.key === "nodeC");
const receiver =
  withReceiver && nodeC
    ? {
        privateIp: nodeC.privateIp,
        walDir: WAL_RECEIVER.dir,
        deliveries: deliveriesFor(nodeC),
        balancedSite: BALANCED_SITE,
      }
    : undefined;
fs.writeFileSync(path.join(work, "secrets.json"), JSON.stringify(secrets, null, 2), { mode: 0o600 });
fs.writeFileSync(path.join(work, "ops.b64"), opsBundle(plan, node)!);
fs.writeFileSync(
  path.join(work, "deliveries.json"),
  JSON.stringify(
    {
      deliveries,
      ops: APPLY_OPS_COMMAND,
      firstBackup: FIRST_BACKUP_COMMAND,
      growVolumes: GROW_VOLUMES_COMMAND,
      // An in-place configuration change as Pulumi pushes it: applied, then confirmed over a new connection.
      applyConfig: applyConfigCommand(plan.adminPath.confirmSeconds),
      confirmConfig: CONFIRM_CONFIG_COMMAND,
      confirmSeconds: plan.adminPath.confirmSeconds,
      storageBox: sftpKey ? VM_STORAGE_BOX : undefined,
      offsite: offsiteKey ? VM_OFFSITE : undefined,
      privateIp: node.privateIp,
      subnet: plan.network.subnet,
      memoryMb: node.memoryGb * 1024,
      receiver,
      bake: bakeSet && { hash: bakeSet.hash, userData: path.join(work, "bake.user-data.yaml") },
    },
    null,
    2,
  ),
);
console.log(`prepared ${stackFile}: ${deliveries.length} credentials for ${node.name} (${node.privateIp})`);
