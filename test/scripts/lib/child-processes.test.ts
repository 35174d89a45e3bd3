// The CLIs start programs through execa (scripts/lib): what reaches a child's stdin, how a time
// limit ends it, and how an exit code, a timeout or a missing program is reported, on real
// processes (fake `ssh` and `pulumi` first on PATH).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf, howItEnded } from "../../../scripts/lib/cli.js";
import { ssh } from "../../../scripts/lib/ssh.js";
import { stackOutputs } from "../../../scripts/lib/stack.js";

let bin: string;
const savedPath = process.env.PATH;

function shim(name: string, body: string): void {
  fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
}

beforeAll(() => {
  bin = fs.mkdtempSync(path.join(os.tmpdir(), "cli-children-"));
  // ssh: echoes what it was asked to run and its stdin; FAKE_SSH_EXIT / FAKE_SSH_SLEEP shape the end.
  shim(
    "ssh",
    'printf "ran: %s\\n" "${!#}"; cat; echo "to stderr" >&2; [[ -z ${FAKE_SSH_SLEEP:-} ]] || exec sleep "$FAKE_SSH_SLEEP"; exit "${FAKE_SSH_EXIT:-0}"',
  );
  process.env.PATH = `${bin}:${savedPath}`;
});

afterAll(() => {
  process.env.PATH = savedPath;
  fs.rmSync(bin, { recursive: true, force: true });
});

const target = { host: "node-a", port: 22, user: "ops" };

describe("ssh() on the admin path", () => {
  it("feeds the input to the remote command's stdin and returns its output and exit code", async () => {
    const r = await ssh(target, "sudo xiopro-ops apply", "bundle-bytes\n");
    expect(r).toEqual({ code: 0, stdout: "ran: sudo xiopro-ops apply\nbundle-bytes", stderr: "to stderr" });
    process.env.FAKE_SSH_EXIT = "3";
    try {
      expect((await ssh(target, "false")).code).toBe(3);
    } finally {
      delete process.env.FAKE_SSH_EXIT;
    }
  });

  it("ends a command at its time limit and reports it as a failed connection (255), not a success", async () => {
    process.env.FAKE_SSH_SLEEP = "30";
    const t0 = Date.now();
    try {
      const r = await ssh(target, "sleep", undefined, 500);
      expect(r.code).toBe(255);
      expect(r.stdout).toBe("ran: sleep");
    } finally {
      delete process.env.FAKE_SSH_SLEEP;
    }
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

describe("stackOutputs() asks the Pulumi CLI", () => {
  it("says there is no pulumi CLI when none is on PATH", async () => {
    process.env.PATH = bin; // the shim directory has no pulumi
    try {
      expect(await stackOutputs("prd", bin)).toEqual({ ok: false, why: "no pulumi CLI on PATH" });
    } finally {
      process.env.PATH = `${bin}:${savedPath}`;
    }
  });

  it("reports the first stderr line of a failed query, and parses the JSON of a good one", async () => {
    shim(
      "pulumi",
      'if [[ $5 == bad ]]; then echo; echo "error: no stack named bad" >&2; exit 255; fi; echo \'{"cost": {"total": 1}}\'',
    );
    expect(await stackOutputs("bad", bin)).toEqual({
      ok: false,
      why: "pulumi stack output failed: error: no stack named bad",
    });
    expect(await stackOutputs("prd", bin)).toEqual({ ok: true, outputs: { cost: { total: 1 } } });
    fs.rmSync(path.join(bin, "pulumi"));
  });
});

describe("how a child process ended, in one line", () => {
  it("names the exit code, the time limit or why it did not start", async () => {
    const exit = await execa("bash", ["-c", "echo out; echo 'ERROR: disk full' >&2; exit 3"], { reject: false });
    expect(howItEnded(exit)).toBe("exited 3");
    expect(failureOf(exit)).toBe("ERROR: disk full");
    const slow = await execa("sleep", ["30"], { reject: false, timeout: 300 });
    expect(howItEnded(slow, 300)).toBe("timed out after 0.3 s");
    expect(failureOf(slow)).toBe("Command timed out after 300 milliseconds: sleep 30");
    const absent = path.join(bin, "absent-program");
    const missing = await execa(absent, [], { reject: false });
    expect(howItEnded(missing)).toBe(`did not run (Command failed with ENOENT: ${absent})`);
    const quiet = await execa("bash", ["-c", "echo; echo '  ERROR: gone ' >&2; echo 'second' >&2; exit 1"], {
      reject: false,
    });
    expect(failureOf(quiet)).toBe("ERROR: gone");
  });
});
