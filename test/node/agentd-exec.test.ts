// L3 for the shipped agentd-exec's cold-start gates (real bash, curl and HTTP; psql is a stand-in
// that refuses until the test lets the database "accept"): the release's command runs only after
// the database accepted the unit's role with the unit's own credential, and after the web tier
// answered 200, each gate saying when it opened. The e2e and VM proofs read those lines back from
// the journal of a booted node (acceptance: cold start in order).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/helpers.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-agentd-exec-"));
const d = (...p: string[]) => path.join(dir, ...p);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("agentd-exec's cold-start gates", () => {
  it("runs the command only after the database accepts the role and the web tier answers 200", async () => {
    for (const sub of ["bin", "creds", "release/bin"]) fs.mkdirSync(d(sub), { recursive: true });
    fs.writeFileSync(d("creds/DATABASE_PASSWORD"), "pw-of-the-unit");
    // The stand-in records how it was asked and accepts once the test says the database is up.
    fs.writeFileSync(d("bin/psql"), `#!/bin/bash\necho "$PGPASSWORD $*" >>${d("psql.log")}\n[[ -e ${d("db-up")} ]]\n`, {
      mode: 0o755,
    });
    fs.writeFileSync(d("release/bin/agentd"), `#!/bin/bash\necho "agentd $* ran" >&2\n`, { mode: 0o755 });
    let healthy = false;
    const server = http.createServer((_req, res) => res.writeHead(healthy ? 200 : 503).end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/healthz`;

    const t0 = Date.now();
    const lines: [number, string][] = [];
    const p = spawn(
      "bash",
      [
        path.join(ROOT, "cloud-init/files/agentd-exec"),
        ...["--after-database", "xiopro_worker", "--after-healthy", url, "bin/agentd", "worker"],
      ],
      {
        cwd: d("release"),
        env: {
          PATH: `${d("bin")}:/usr/bin:/bin`,
          CREDENTIALS_DIRECTORY: d("creds"),
          DATABASE_HOST: "10.1.1.10",
          DATABASE_NAME: "xiopro",
        },
      },
    );
    p.stderr.on("data", (b: Buffer) =>
      b
        .toString()
        .trim()
        .split("\n")
        .forEach((l) => lines.push([Date.now() - t0, l])),
    );
    const done = new Promise<number>((resolve) => p.on("close", (code) => resolve(code ?? -1)));
    setTimeout(() => fs.writeFileSync(d("db-up"), ""), 2000);
    setTimeout(() => (healthy = true), 4000);
    const code = await done;
    server.close();

    expect(code).toBe(0);
    expect(lines.map(([, l]) => l)).toEqual([
      "agentd-exec: waiting for the database to accept xiopro_worker",
      expect.stringMatching(/^agentd-exec: the database accepts xiopro_worker \(after \d+ s\)$/) as unknown,
      `agentd-exec: waiting for ${url} to answer 200`,
      expect.stringMatching(new RegExp(`^agentd-exec: ${url} is healthy \\(after \\d+ s\\)$`)) as unknown,
      "agentd worker ran",
    ]);
    // Neither gate opened early, and the command ran last.
    const at = (prefix: string) => lines.find(([, l]) => l.startsWith(prefix))![0];
    expect(at("agentd-exec: the database accepts")).toBeGreaterThanOrEqual(2000);
    expect(at(`agentd-exec: ${url} is healthy`)).toBeGreaterThanOrEqual(4000);
    // It logged in as the unit's role, with the unit's credential, to the platform database.
    expect(fs.readFileSync(d("psql.log"), "utf8").trim().split("\n").at(-1)).toBe(
      "pw-of-the-unit -XAtq -h 10.1.1.10 -U xiopro_worker -d xiopro -c SELECT 1",
    );
  }, 30_000);
});
