// The command scanner (test/support/commands.ts): which external commands a shell script or a
// TypeScript file runs, and the list for the whole repository.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  commandsInRepo,
  commandsInShell,
  commandsInTypeScript,
  ownPrograms,
  scannedFiles,
} from "../support/commands.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "commands-scan-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const names = (found: { command: string }[]) => found.map((i) => i.command).sort();

describe("commands in a shell script", () => {
  it("finds every command of a bash script, through pipelines, substitutions and wrappers, but no builtin, function, expansion or relative path", () => {
    fs.writeFileSync(path.join(tmp, "lib.sh"), "helper() { date -u; }\n");
    const script = [
      "#!/usr/bin/env bash",
      "set -euo pipefail",
      'here=$(cd "$(dirname "$0")" && pwd)',
      '. "$here/lib.sh"',
      'greet() { echo "hello $1"; }',
      "ls -l | grep -c x",
      "count=$(wc -l </etc/hosts)",
      'greet "$count"',
      "helper arg",
      "sudo -u postgres psql -c 'SELECT 1'",
      "timeout 5 curl -fsS http://192.0.2.1/",
      "ip netns exec ns ping -c 1 192.0.2.1",
      '"$var" x',
      "chroot /r apt-get update",
      "/usr/sbin/nft list ruleset",
      "./local-script --flag",
    ].join("\n");
    const found = commandsInShell(script, path.join(tmp, "script.sh"));
    expect(names(found)).toEqual([
      "chroot",
      "curl",
      "dirname",
      "grep",
      "ip",
      "ls",
      "nft",
      "ping",
      "psql",
      "sudo",
      "timeout",
      "wc",
    ]);
    expect(found.find((i) => i.command === "psql")).toEqual({
      command: "psql",
      file: path.join(tmp, "script.sh"),
      line: 10,
    });
    expect(found.find((i) => i.command === "nft")!.line).toBe(15);
  });

  it('follows the script\'s own wrappers: a function that runs "$@", one that looks commands up, trap, bash -c, find -exec, env and xargs', () => {
    const script = [
      'as_user() { runuser -u app -- "$@"; }',
      'need() { local c; for c in "$@"; do command -v "$c" >/dev/null || exit 1; done; }',
      'cleanup() { rm -rf "$tmp"; }',
      "trap cleanup EXIT",
      "trap 'umount /mnt' INT",
      "need jq nmap",
      "as_user pg_dump -Fc db",
      "bash -c 'tar -cf - . | gzip'",
      "find /tmp -name x -exec shred {} +",
      "env -i PATH=/usr/bin xargs -0 stat",
    ].join("\n");
    const found = commandsInShell(script, path.join(tmp, "wrappers.sh"));
    expect(names(found)).toEqual([
      "bash",
      "env",
      "find",
      "gzip",
      "jq",
      "nmap",
      "pg_dump",
      "rm",
      "runuser",
      "shred",
      "stat",
      "tar",
      "umount",
      "xargs",
    ]);
    expect(found.filter((i) => i.command === "tar" || i.command === "pg_dump").map((i) => i.line)).toEqual([7, 8]);
  });
});

describe("commands in TypeScript", () => {
  it("finds the literal commands of spawnSync, execFileSync and of functions that pass a parameter on as the command, not a computed one", () => {
    const text = [
      'import { execFileSync, spawnSync } from "node:child_process";',
      'import { execa } from "execa";',
      'import { run } from "./support/run.js";',
      "function asRoot(cmd: string, args: string[]) {",
      '  return spawnSync("sudo", ["-n", "--", cmd, ...args], { encoding: "utf8" });',
      "}",
      'const pick = (): string => process.env.TOOL ?? "true";',
      'spawnSync("nft", ["-f", "-"], { input: "flush ruleset" });',
      'execFileSync("cp", ["-a", "/a", "/b"]);',
      'void run("systemd-analyze", ["verify", "x.service"]);',
      'void execa("pulumi", ["stack", "output"], { reject: false });',
      'asRoot("pgbackrest", ["info"]);',
      "spawnSync(pick(), []);",
      'spawnSync("bash", ["-c", "git status --short | wc -l"]);',
      'const m = /x/.exec("not a command");',
    ].join("\n");
    const found = commandsInTypeScript(text, "test/snippet.ts", { root: ROOT });
    expect(names(found)).toEqual(["bash", "cp", "git", "nft", "pgbackrest", "pulumi", "sudo", "systemd-analyze", "wc"]);
    expect(found.find((i) => i.command === "nft")).toEqual({ command: "nft", file: "test/snippet.ts", line: 8 });
    expect(found.find((i) => i.command === "pgbackrest")!.line).toBe(12);
    expect(found.find((i) => i.command === "pulumi")!.line).toBe(11);
  });
});

describe("commands in the repository", () => {
  it("lists every external command the scripts and tests run, each with a place it is run", () => {
    const t0 = performance.now();
    const found = commandsInRepo(ROOT);
    const ms = performance.now() - t0;
    const scanned = scannedFiles(ROOT);
    const files = new Set([...scanned.shell, ...scanned.typescript]);
    const first = new Map<string, string>();
    for (const i of found) if (!first.has(i.command)) first.set(i.command, `${i.file}:${i.line}`);
    const sorted = [...first.keys()].sort();
    console.log(
      `${sorted.length} commands (${found.length} invocations in ${scanned.shell.length} shell scripts and ${scanned.typescript.length} TypeScript files, ${Math.round(ms)} ms):\n${sorted.map((c) => `  ${c.padEnd(30)} ${first.get(c)}`).join("\n")}`,
    );

    expect(scanned.shell).toContain("cloud-init/files/xiopro-backup");
    expect(scanned.shell).toContain("test/vm/lib.sh");
    for (const i of found) {
      expect(files.has(i.file), `${i.command} in ${i.file}`).toBe(true);
      expect(i.line).toBeGreaterThan(0);
      expect(i.command).toMatch(/^[A-Za-z0-9_.+@-][A-Za-z0-9_.+@:-]*$/);
    }
    expect(sorted).toEqual(
      expect.arrayContaining(["bash", "ip", "nft", "pgbackrest", "psql", "restic", "ssh", "systemd-nspawn"]),
    );
    for (const own of ownPrograms(ROOT)) expect(sorted).not.toContain(own);
  });
});
