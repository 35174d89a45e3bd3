// Finds the external commands the repository runs: in shell scripts (parsed by shfmt, the real
// parser, never by regex) and in TypeScript child-process calls (walked with the TypeScript
// compiler API). Another test checks each command against the Debian packages the install step
// installs (scripts/tools.tsv).
//
// What counts as a command: a literal word in command position. A word with an expansion in it
// ("$tsx", "${cmd[@]}") is skipped, so is a relative path (a repository file, "./x"); an absolute
// path counts as its basename. Shell builtins, keywords and functions (declared in the script or
// in a file it sources) are not commands. Wrappers count and so does what they run (sudo, timeout,
// env, nice, ionice, nohup, setsid, exec, command, xargs, ip netns exec, runuser, setpriv, flock,
// unshare, stdbuf, find -exec, bash/sh -c SCRIPT, trap SCRIPT, eval SCRIPT, and the script's own
// functions and TypeScript functions that pass a parameter on as the command); chroot and ssh do
// not unwrap: what they run runs on another system.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

export interface Invocation {
  command: string;
  file: string;
  line: number;
}

export interface ScanOptions {
  /** Directory a relative `file` is resolved against (sourced scripts, imported modules); default the cwd. */
  root?: string;
}

// ---------------------------------------------------------------------------------------------
// Argument vectors and wrappers (shared by the shell and the TypeScript side)
// ---------------------------------------------------------------------------------------------

/** One word of an argument vector: `text` when wholly literal; `prefix` is its literal start. */
interface Arg {
  text?: string;
  prefix: string;
  /** Expands to an unknown number of words ("$@", "${a[@]}", a TypeScript spread). */
  spread?: boolean;
}

type Kind = "cmd" | "shell" | "probe";
interface Position {
  index: number;
  /** cmd: runs the word; shell: the word is a script; probe: `command -v WORD` (looked up, needed). */
  kind: Kind;
  /** The wrapper that runs this word (null: the shell itself). */
  via: string | null;
  /** For kind shell: the script runs in the same shell (trap, eval), so the file's functions apply. */
  same?: boolean;
}

interface OptSpec {
  /** Short options that take an argument. */
  arg?: string;
  /** Long options that take an argument (as the next word when not attached with =). */
  long?: string[];
  /** `-N` (nice -10) is an option. */
  digits?: boolean;
  /** A lone `-` is an option (env -). */
  dashAlone?: boolean;
}
interface Opt {
  /** Index of the word holding the option's argument, when it is a separate word. */
  index?: number;
  value?: string;
}

/** Skips the options of a command starting at `start`: the index after them, and what was seen. */
function options(words: Arg[], start: number, spec: OptSpec): { end: number; seen: Map<string, Opt> } | null {
  const seen = new Map<string, Opt>();
  let i = start;
  while (i < words.length) {
    const w = words[i]!;
    if (w.spread) return { end: i, seen }; // "$@" after `exec`: the command (unknowable, but there)
    if (w.text === "--") return { end: i + 1, seen };
    if (w.text === "-" && spec.dashAlone) {
      seen.set("-", {});
      i++;
      continue;
    }
    const t = w.text ?? w.prefix;
    if (!t.startsWith("-") || t === "-") return { end: i, seen };
    if (t.startsWith("--")) {
      const eq = t.indexOf("=");
      const name = eq >= 0 ? t.slice(2, eq) : t.slice(2);
      if (eq >= 0) seen.set(name, { value: t.slice(eq + 1) });
      else if (spec.long?.includes(name)) {
        seen.set(name, { index: i + 1 });
        i++;
      } else seen.set(name, {});
      i++;
      continue;
    }
    const letters = t.slice(1);
    if (spec.digits && /^\d+$/.test(letters)) {
      i++;
      continue;
    }
    let step = 1;
    for (let j = 0; j < letters.length; j++) {
      const c = letters[j]!;
      if (spec.arg?.includes(c)) {
        if (j < letters.length - 1) seen.set(c, { value: letters.slice(j + 1) });
        else {
          seen.set(c, { index: i + 1 });
          step = 2;
        }
        break;
      }
      seen.set(c, {});
    }
    i += step;
  }
  return { end: i, seen };
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
function skipAssignments(words: Arg[], i: number, spreads: boolean): number {
  while (i < words.length && (ASSIGNMENT.test(words[i]!.text ?? words[i]!.prefix) || (spreads && words[i]!.spread)))
    i++;
  return i;
}

interface Unwrapped {
  /** Index of the command the wrapper runs. */
  next?: number;
  /** Index of a script the wrapper runs (bash -c SCRIPT, flock -c, runuser -c, trap, eval). */
  shell?: number;
  same?: boolean;
  /** Indexes of commands looked up (command -v A B). */
  probes?: number[];
  /** Indexes of further commands (find -exec CMD … -exec CMD …). */
  more?: number[];
}

const SHELLS = new Set(["bash", "sh", "dash"]);

/** What wrapper `name` (its arguments from `start`) runs, or null when it runs no command. */
function unwrap(name: string, words: Arg[], start: number): Unwrapped | null {
  const next = (spec: OptSpec) => {
    const o = options(words, start, spec);
    return o ? { next: o.end } : null;
  };
  switch (name) {
    case "sudo": {
      const o = options(words, start, {
        arg: "CDgpRrtTUu",
        long: [
          "user",
          "group",
          "host",
          "prompt",
          "role",
          "type",
          "other-user",
          "close-from",
          "chdir",
          "command-timeout",
          "chroot",
        ],
      });
      if (!o || o.seen.has("e") || o.seen.has("edit")) return null;
      return { next: skipAssignments(words, o.end, false) };
    }
    case "timeout": {
      const o = options(words, start, { arg: "sk", long: ["signal", "kill-after"] });
      return o ? { next: o.end + 1 } : null; // DURATION, then the command
    }
    case "env": {
      const o = options(words, start, { arg: "uCS", long: ["unset", "chdir", "split-string"], dashAlone: true });
      if (!o) return null;
      const split = o.seen.get("S") ?? o.seen.get("split-string");
      if (split?.index !== undefined) return { shell: split.index };
      return { next: skipAssignments(words, o.end, true) };
    }
    case "nice":
      return next({ arg: "n", long: ["adjustment"], digits: true });
    case "ionice": {
      const o = options(words, start, { arg: "cnpPu", long: ["class", "classdata", "pid", "pgid", "uid"] });
      if (!o || ["p", "P", "u", "pid", "pgid", "uid"].some((k) => o.seen.has(k))) return null;
      return { next: o.end };
    }
    case "nohup":
      return { next: words[start]?.text === "--" ? start + 1 : start };
    case "setsid":
      return next({});
    case "exec":
      return next({ arg: "a" });
    case "command": {
      const o = options(words, start, {});
      if (!o) return null;
      if (o.seen.has("v") || o.seen.has("V")) return { probes: words.map((_, k) => k).filter((k) => k >= o.end) };
      return { next: o.end };
    }
    case "xargs":
      return next({
        arg: "adEILnPs",
        long: ["arg-file", "delimiter", "max-args", "max-procs", "max-chars", "process-slot-var"],
      });
    case "ip": {
      let i = start;
      while (i < words.length && (words[i]!.text ?? words[i]!.prefix).startsWith("-")) {
        if (words[i]!.spread) return null;
        const opt = (words[i]!.text ?? "").replace(/^-+/, "");
        i += ["n", "netns", "b", "batch", "rc", "rcvbuf", "f", "family", "l", "loops"].includes(opt) ? 2 : 1;
      }
      if (words[i]?.text === "netns" && words[i + 1]?.text === "exec") return { next: i + 3 }; // ip netns exec NS CMD
      return null;
    }
    case "runuser": {
      const o = options(words, start, {
        arg: "ugGswc",
        long: ["user", "group", "supp-group", "shell", "command", "session-command", "whitelist-environment"],
      });
      if (!o) return null;
      const c = o.seen.get("c") ?? o.seen.get("command") ?? o.seen.get("session-command");
      if (c) return c.index !== undefined ? { shell: c.index } : null;
      if (o.seen.has("u") || o.seen.has("user")) return { next: o.end };
      // `runuser [-l] USER -c SCRIPT`: getopt permutes, so -c may follow the user.
      for (let i = o.end; i < words.length && words[i]!.text !== "--"; i++) {
        if (["-c", "--command", "--session-command"].includes(words[i]!.text ?? "")) return { shell: i + 1 };
      }
      return null; // `runuser USER` runs a login shell
    }
    case "setpriv":
      return next({
        long: [
          "reuid",
          "regid",
          "ruid",
          "euid",
          "rgid",
          "egid",
          "groups",
          "inh-caps",
          "ambient-caps",
          "bounding-set",
          "securebits",
          "pdeathsig",
          "selinux-label",
          "apparmor-profile",
          "landlock-access",
          "landlock-rule",
        ],
      });
    case "flock": {
      const o = options(words, start, { arg: "wEc", long: ["wait", "timeout", "conflict-exit-code", "command"] });
      if (!o) return null;
      const c = o.seen.get("c") ?? o.seen.get("command");
      if (c) return c.index !== undefined ? { shell: c.index } : null;
      const after = o.end + 1; // flock FILE CMD | flock FILE -c SCRIPT | flock FD
      if (words[after]?.text === "-c" || words[after]?.text === "--command") return { shell: after + 1 };
      return after < words.length ? { next: after } : null;
    }
    case "unshare":
      return next({
        arg: "SGRw",
        long: [
          "propagation",
          "setgroups",
          "setuid",
          "setgid",
          "root",
          "wd",
          "map-user",
          "map-group",
          "map-users",
          "map-groups",
          "monotonic",
          "boottime",
        ],
      });
    case "stdbuf":
      return next({ arg: "ioe", long: ["input", "output", "error"] });
    case "find": {
      const more: number[] = [];
      for (let i = start; i < words.length; i++)
        if (["-exec", "-execdir", "-ok", "-okdir"].includes(words[i]!.text ?? "")) more.push(i + 1);
      return { more };
    }
    case "trap": {
      const a = words[start];
      if (!a || a.text === undefined || a.text === "" || a.text.startsWith("-") || start + 1 >= words.length)
        return null;
      return { shell: start, same: true };
    }
    case "eval":
      return words.length === start + 1 ? { shell: start, same: true } : null;
    default:
      if (SHELLS.has(name)) {
        let i = start;
        let c = false;
        while (i < words.length) {
          const w = words[i]!;
          if (w.spread || w.text === undefined) break;
          if (w.text === "--" || w.text === "-") {
            i++;
            break;
          }
          if (w.text.startsWith("--")) {
            i += ["rcfile", "init-file"].includes(w.text.slice(2)) ? 2 : 1;
            continue;
          }
          if (!/^[-+][A-Za-z]+$/.test(w.text)) break;
          if (w.text.includes("c")) c = true;
          i += 1 + [...w.text.slice(1)].filter((l) => l === "o" || l === "O").length; // -o OPTION
        }
        return c && i < words.length ? { shell: i } : null; // without -c: a script file, not a command
      }
      return null;
  }
}

/**
 * The command positions of an argument vector: the command, what its wrappers run, and scripts.
 * `passthrough(script)` tells how many positional parameters a `sh -c SCRIPT` shifts before
 * running "$@" as a command (null: it does not).
 */
function commandPositions(
  words: Arg[],
  passthrough: (script: string) => number | null,
  firstVia: string | null = null,
): Position[] {
  const out: Position[] = [];
  const chain = (start: number, via: string | null, depth: number): void => {
    let i = start;
    while (i < words.length && depth < 64) {
      const w = words[i]!;
      out.push({ index: i, kind: "cmd", via });
      if (w.text === undefined) return;
      const name = w.text.includes("/") ? path.posix.basename(w.text) : w.text;
      const r = unwrap(name, words, i + 1);
      if (!r) return;
      if (r.probes) {
        for (const p of r.probes) out.push({ index: p, kind: "probe", via: name });
        return;
      }
      if (r.more) {
        for (const m of r.more) chain(m, name, depth + 1);
        return;
      }
      if (r.shell !== undefined) {
        out.push({ index: r.shell, kind: "shell", via: name, same: r.same });
        const script = words[r.shell]?.text;
        const k = !r.same && script !== undefined ? passthrough(script) : null;
        if (k === null) return;
        i = r.shell + 2 + k; // sh -c SCRIPT $0 $1…: "$@" starts at $1
      } else if (r.next !== undefined) i = r.next;
      else return;
      via = name;
      depth++;
    }
  };
  chain(0, firstVia, 0);
  return out;
}

/** An absolute path counts as its basename; a relative path is a repository file (null). */
function commandName(text: string): string | null {
  if (text === "") return null;
  if (!text.includes("/")) return text;
  if (!text.startsWith("/")) return null;
  const base = path.posix.basename(text);
  return base === "" ? null : base;
}

// ---------------------------------------------------------------------------------------------
// Shell
// ---------------------------------------------------------------------------------------------

// shfmt's JSON syntax tree (mvdan.cc/sh/v3/syntax), walked generically.
type J = any;

let builtinSet: Set<string> | undefined;
/** Bash's builtins and keywords (`compgen -b -k`), computed once. */
export function shellBuiltins(): Set<string> {
  if (!builtinSet) {
    const r = spawnSync("bash", ["-c", "compgen -b -k"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`bash -c 'compgen -b -k' failed: ${r.stderr || r.error}`);
    builtinSet = new Set(r.stdout.split("\n").filter(Boolean));
  }
  return builtinSet;
}

const parsed = new Map<string, J>();
function parseShell(text: string, what: string): J {
  const hit = parsed.get(text);
  if (hit) return hit;
  const r = spawnSync("shfmt", ["--to-json", "-ln", "bash"], { input: text, encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`shfmt (Debian package shfmt) could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`shfmt could not parse ${what}: ${r.stderr.trim()}`);
  const ast = JSON.parse(r.stdout);
  parsed.set(text, ast);
  return ast;
}

/** Calls `visit` on every typed node; `stmt` is the statement it belongs to (for its comments). */
function walk(node: J, visit: (n: J, stmt: J) => void, stmt: J = undefined, skip?: (n: J) => boolean): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, visit, stmt, skip);
    return;
  }
  if (!node || typeof node !== "object") return;
  if (skip?.(node)) return;
  const s = "Cmd" in node && !("Type" in node) ? node : stmt;
  if (typeof node.Type === "string") visit(node, s);
  for (const k of Object.keys(node)) if (k !== "Pos" && k !== "End" && k !== "Comments") walk(node[k], visit, s, skip);
}

interface Word extends Arg {
  line: number;
  /** Exactly "$@" (or $*): the positional parameters. */
  allArgs?: boolean;
  /** Exactly "$NAME": a plain variable. */
  param?: string;
  /** The word with every expansion replaced by NUL (to find its literal last path component). */
  shape: string;
}

const unescapeBare = (s: string) => s.replace(/\\\n/g, "").replace(/\\(.)/gs, "$1");
const unescapeDq = (s: string) => s.replace(/\\\n/g, "").replace(/\\([$`"\\])/g, "$1");
const ANSI: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  e: "\x1b",
  E: "\x1b",
  f: "\f",
  v: "\v",
};
const unescapeAnsi = (s: string) => s.replace(/\\(.)/gs, (m, c: string) => ANSI[c] ?? m);

function simpleParam(p: J): string | undefined {
  if (p?.Type !== "ParamExp" || p.Excl || p.Length || p.Width || p.Slice || p.Repl || p.Exp || p.Names || p.Index)
    return undefined;
  return p.Param?.Value;
}
function isArraySpread(p: J): boolean {
  if (p?.Type !== "ParamExp" || p.Excl || p.Length || p.Width || p.Slice || p.Repl || p.Exp) return false;
  const idx = p.Index?.Parts;
  return !p.Index
    ? p.Param?.Value === "@" || p.Param?.Value === "*"
    : idx?.length === 1 && (idx[0].Value === "@" || idx[0].Value === "*");
}

function toWord(w: J, lineOffset: number): Word {
  let text = "";
  let shape = "";
  let literal = true;
  let prefixDone = false;
  let prefix = "";
  const add = (s: string | undefined) => {
    if (s === undefined) {
      literal = false;
      prefixDone = true;
      shape += "\0";
      return;
    }
    text += s;
    shape += s;
    if (!prefixDone) prefix += s;
  };
  const parts: J[] = w.Parts ?? [];
  for (const p of parts) {
    if (p.Type === "Lit") add(unescapeBare(p.Value));
    else if (p.Type === "SglQuoted") add(p.Dollar ? unescapeAnsi(p.Value) : p.Value);
    else if (p.Type === "DblQuoted")
      for (const q of p.Parts ?? []) add(q.Type === "Lit" ? unescapeDq(q.Value) : undefined);
    else add(undefined);
  }
  const word: Word = { prefix, shape, line: w.Pos.Line + lineOffset };
  if (literal) word.text = text;
  // A single expansion standing alone, quoted or not.
  const only =
    parts.length === 1
      ? parts[0].Type === "DblQuoted" && parts[0].Parts?.length === 1
        ? parts[0].Parts[0]
        : parts[0]
      : undefined;
  if (only?.Type === "ParamExp") {
    const name = simpleParam(only);
    if (name === "@" || name === "*") word.allArgs = true;
    else if (name !== undefined) word.param = name;
    // "${a[@]}" and "$@" are several words; an unquoted $x may split into several.
    if (isArraySpread(only) || parts[0].Type !== "DblQuoted") word.spread = true;
  }
  return word;
}

interface FnInfo {
  /** Runs "$@" (after shifting this many) as a command: `as_pg psql …` runs psql. */
  passthrough?: number;
  /** Looks each of "$@" (after shifting this many) up with command -v: `need_cmds ip nft`. */
  probes?: number;
}
type Funcs = Map<string, FnInfo>;

const argsOf = (call: J, lineOffset: number): Word[] => (call.Args ?? []).map((a: J) => toWord(a, lineOffset));
const firstLiteral = (call: J): string | undefined =>
  call.Type === "CallExpr" && call.Args?.length ? toWord(call.Args[0], 0).text : undefined;

/** Positions of a call, with the script's own wrapper functions expanded (as_pg psql → psql). */
function shellPositions(words: Word[], funcs: Funcs): Position[] {
  const out: Position[] = [];
  const go = (start: number, via: string | null, depth: number) => {
    const sub = words.slice(start);
    for (const p of commandPositions(sub, passthroughOfScript, via)) {
      const index = p.index + start;
      out.push({ ...p, index });
      const name = words[index]?.text;
      const inShell = p.via === null || funcs.has(p.via);
      const f = name !== undefined && p.kind === "cmd" && inShell && depth < 16 ? funcs.get(name) : undefined;
      if (f?.passthrough !== undefined) go(index + 1 + f.passthrough, name!, depth + 1);
      if (f?.probes !== undefined)
        for (let k = index + 1 + f.probes; k < words.length; k++) out.push({ index: k, kind: "probe", via: name! });
    }
  };
  go(0, null, 0);
  return out;
}

/** Sum of the plain `shift [N]` statements at the top of a body; null when a shift is conditional. */
function shiftCount(stmts: J[]): number | null {
  let n = 0;
  let bad = false;
  const top = new Set(stmts.map((s) => s.Cmd));
  walk(
    stmts,
    (node) => {
      if (node.Type !== "CallExpr" || firstLiteral(node) !== "shift") return;
      if (!top.has(node)) {
        bad = true;
        return;
      }
      const arg = node.Args.length > 1 ? toWord(node.Args[1], 0).text : "1";
      if (arg === undefined || !/^\d+$/.test(arg)) bad = true;
      else n += Number(arg);
    },
    undefined,
    (node) => node.Type === "FuncDecl",
  );
  return bad ? null : n;
}

/** How a body (a function's, or a `sh -c` script's top level) uses "$@": see FnInfo. */
function analyzeBody(stmts: J[], funcs: Funcs): FnInfo {
  const info: FnInfo = {};
  let passes = false;
  let probes = false;
  walk(
    stmts,
    (node) => {
      if (node.Type === "CallExpr" && node.Args?.length) {
        const words = argsOf(node, 0);
        for (const p of shellPositions(words, funcs)) if (p.kind === "cmd" && words[p.index]?.allArgs) passes = true;
      }
      if (node.Type === "ForClause" && node.Loop?.Type === "WordIter") {
        const items: J[] = node.Loop.Items ?? [];
        if (items.length > 1 || (items.length === 1 && !toWord(items[0], 0).allArgs)) return;
        const v = node.Loop.Name.Value;
        walk(node.Do, (c) => {
          if (c.Type !== "CallExpr" || !c.Args?.length) return;
          const words = argsOf(c, 0);
          for (const p of shellPositions(words, funcs))
            if (p.kind === "probe" && words[p.index]?.param === v) probes = true;
        });
      }
    },
    undefined,
    (node) => node.Type === "FuncDecl",
  );
  if (passes || probes) {
    const shift = shiftCount(stmts);
    if (shift !== null) {
      if (passes) info.passthrough = shift;
      if (probes) info.probes = shift;
    }
  }
  return info;
}

const bodyStmts = (body: J): J[] =>
  body?.Cmd && (body.Cmd.Type === "Block" || body.Cmd.Type === "Subshell")
    ? (body.Cmd.Stmts ?? [])
    : body
      ? [body]
      : [];

const passthroughCache = new Map<string, number | null>();
/** For `sh -c SCRIPT $0 ARGS`: the shift before the script runs "$@", or null. */
function passthroughOfScript(script: string): number | null {
  if (!passthroughCache.has(script)) {
    let k: number | null = null;
    try {
      const ast = parseShell(script, "a sh -c script");
      const funcs = collectFunctions(ast, undefined, new Set());
      k = analyzeBody(ast.Stmts ?? [], funcs).passthrough ?? null;
    } catch {
      k = null;
    }
    passthroughCache.set(script, k);
  }
  return passthroughCache.get(script)!;
}

/** The file a `.`/`source` statement reads, when it can be known: see commandsInShell. */
function sourcedFile(call: J, stmt: J, absFile: string): string | undefined {
  const dir = path.dirname(absFile);
  for (const c of stmt?.Comments ?? []) {
    const m = /\bshellcheck\b.*\bsource=(\S+)/.exec(c.Text ?? "");
    if (!m) continue;
    if (m[1] === "/dev/null") return undefined;
    const p = path.resolve(dir, m[1]!);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  const w = call.Args?.[1] ? toWord(call.Args[1], 0) : undefined;
  if (!w) return undefined;
  const last = w.shape.slice(w.shape.lastIndexOf("/") + 1);
  if (last === "" || last.includes("\0")) return undefined;
  const p = path.join(dir, last);
  return fs.existsSync(p) && fs.statSync(p).isFile() ? p : undefined;
}

/** The functions a script declares, and those of the files it sources (recursively), analyzed. */
function collectFunctions(ast: J, absFile: string | undefined, visiting: Set<string>): Funcs {
  const decls: [string, J][] = [];
  const gather = (tree: J, file: string | undefined) => {
    walk(tree, (node, stmt) => {
      if (node.Type === "FuncDecl") decls.push([node.Name.Value, node.Body]);
      if (node.Type === "CallExpr" && file && [".", "source"].includes(firstLiteral(node) ?? "")) {
        const src = sourcedFile(node, stmt, file);
        if (!src || visiting.has(src)) return;
        visiting.add(src);
        gather(parseShell(fs.readFileSync(src, "utf8"), src), src);
      }
    });
  };
  if (absFile) visiting.add(absFile);
  gather(ast, absFile);
  const funcs: Funcs = new Map(decls.map(([n]) => [n, {}]));
  // Wrappers may call wrappers: iterate until nothing changes.
  for (let round = 0; round < 8; round++) {
    let changed = false;
    for (const [name, body] of decls) {
      const before = JSON.stringify(funcs.get(name));
      const info = analyzeBody(bodyStmts(body), funcs);
      if (JSON.stringify(info) !== before) {
        funcs.set(name, info);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return funcs;
}

function scanShell(
  ast: J,
  file: string,
  funcs: Funcs,
  lineOffset: number,
  absFile: string | undefined,
  out: Invocation[],
  depth: number,
): void {
  const builtins = shellBuiltins();
  walk(ast, (node) => {
    if (node.Type !== "CallExpr" || !node.Args?.length) return;
    const words = argsOf(node, lineOffset);
    for (const p of shellPositions(words, funcs)) {
      const w = words[p.index]!;
      if (w.text === undefined) continue;
      if (p.kind === "shell") {
        if (depth > 8) continue;
        const inner = parseShell(w.text, `a script in ${file}:${w.line}`);
        const innerFuncs = p.same
          ? new Map([...funcs, ...collectFunctions(inner, undefined, new Set())])
          : collectFunctions(inner, undefined, new Set());
        scanShell(inner, file, innerFuncs, w.line - 1, absFile, out, depth + 1);
        continue;
      }
      const name = commandName(w.text);
      if (name === null) continue;
      if (!name.includes("/") && !w.text.includes("/")) {
        // The shell resolves builtins and functions only where it runs the word itself.
        const inShell = p.via === null || funcs.has(p.via) || p.via === "trap" || p.via === "eval";
        if ((inShell || p.via === "command" || p.kind === "probe") && builtins.has(name)) continue;
        if ((inShell || p.kind === "probe") && funcs.has(name)) continue;
      }
      out.push({ command: name, file, line: w.line });
    }
  });
}

/**
 * The external commands a bash/sh script runs, in source order. `file` names the script in the
 * result and locates the files it sources (`. "$here/lib.sh"`): a `# shellcheck source=PATH`
 * directive on the statement (relative to the script), else the path's last component when it
 * is literal, as a file next to the script.
 */
export function commandsInShell(scriptText: string, file: string, opts: ScanOptions = {}): Invocation[] {
  const abs = path.resolve(opts.root ?? process.cwd(), file);
  const ast = parseShell(scriptText, file);
  const funcs = collectFunctions(ast, abs, new Set());
  const out: Invocation[] = [];
  scanShell(ast, file, funcs, 0, abs, out, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// TypeScript
// ---------------------------------------------------------------------------------------------

/** A word of a child process's argv as the code builds it, possibly from a wrapper's parameters. */
type Sym =
  /** flat: a script from another file, whose commands all get `line` (the place it is used). */
  | { k: "lit"; text: string; own: boolean; line: number; flat?: boolean }
  | { k: "param"; i: number }
  | { k: "spreadParam"; i: number }
  | { k: "elemParam"; i: number; n: number }
  | { k: "restParam"; i: number; from: number }
  /** shell: a template literal's text with each ${…} as a shell expansion, when used as a script. */
  | { k: "unknown"; prefix: string; shell?: string; own?: boolean; line?: number }
  | { k: "spread" };

/** A function that starts a child process whose argv comes (partly) from its parameters. */
interface Template {
  argv: Sym[];
  /** Index of a rest parameter (`...args`), whose array is the call's arguments from there on. */
  rest?: number;
}

interface ModuleInfo {
  wrappers: Map<string, Template>;
  methods: Map<string, Template>;
  strings: Map<string, string>;
}

const CHILD_PROCESS = new Set(["child_process", "node:child_process"]);
const SPAWN_ARGV = new Set(["spawn", "spawnSync", "execFile", "execFileSync"]);
const SPAWN_SHELL = new Set(["exec", "execSync"]);
/** execa's functions that take (file, arguments, options) like execFile: how the CLIs start programs. */
const EXECA_ARGV = new Set(["execa", "execaSync"]);
/** Names that are child_process functions on any receiver or as globals (not `exec`: RegExp#exec). */
const SPAWN_ANYWHERE = new Set(["spawn", "spawnSync", "execFile", "execFileSync", "execSync"]);

type Callee = { family: string } | { tpl: Template } | null;
type FnNode = ts.FunctionDeclaration | ts.ArrowFunction | ts.FunctionExpression | ts.MethodDeclaration;

const strip = (e: ts.Expression): ts.Expression => {
  while (
    ts.isParenthesizedExpression(e) ||
    ts.isNonNullExpression(e) ||
    ts.isAsExpression(e) ||
    ts.isTypeAssertionExpression(e) ||
    ts.isSatisfiesExpression(e)
  )
    e = e.expression;
  return e;
};

function bindsName(b: ts.BindingName, name: string): boolean {
  if (ts.isIdentifier(b)) return b.text === name;
  return b.elements.some((el) => !ts.isOmittedExpression(el) && bindsName(el.name, name));
}

function declIn(s: ts.Statement, name: string): ts.Node | undefined {
  if (ts.isVariableStatement(s)) return s.declarationList.declarations.find((d) => bindsName(d.name, name));
  if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) && s.name?.text === name) return s;
  if (ts.isImportDeclaration(s) && s.importClause) {
    const c = s.importClause;
    if (c.name?.text === name) return c;
    const nb = c.namedBindings;
    if (nb && ts.isNamespaceImport(nb) && nb.name.text === name) return nb;
    if (nb && ts.isNamedImports(nb)) return nb.elements.find((e) => e.name.text === name);
  }
  return undefined;
}

/** The declaration `name` refers to at `from` (lexical scopes only); undefined for a global. */
function findDecl(name: string, from: ts.Node): ts.Node | undefined {
  for (let n: ts.Node | undefined = from; n; n = n.parent) {
    if (ts.isFunctionLike(n)) {
      for (const p of n.parameters) if (bindsName(p.name, name)) return p;
      if (ts.isFunctionExpression(n) && n.name?.text === name) return n;
    }
    if (ts.isBlock(n) || ts.isSourceFile(n) || ts.isModuleBlock(n) || ts.isCaseClause(n) || ts.isDefaultClause(n)) {
      for (const s of n.statements) {
        const d = declIn(s, name);
        if (d) return d;
      }
    }
    if (
      (ts.isForStatement(n) || ts.isForOfStatement(n) || ts.isForInStatement(n)) &&
      n.initializer &&
      ts.isVariableDeclarationList(n.initializer)
    ) {
      const d = n.initializer.declarations.find((x) => bindsName(x.name, name));
      if (d) return d;
    }
    if (ts.isCatchClause(n) && n.variableDeclaration && bindsName(n.variableDeclaration.name, name))
      return n.variableDeclaration;
  }
  return undefined;
}

const isRequireOf = (e: ts.Expression | undefined, mods: Set<string>) => {
  if (!e) return false;
  e = strip(e);
  return (
    ts.isCallExpression(e) &&
    ts.isIdentifier(e.expression) &&
    e.expression.text === "require" &&
    !!e.arguments[0] &&
    ts.isStringLiteral(e.arguments[0]) &&
    mods.has(e.arguments[0].text)
  );
};

function resolveModule(spec: string, fromAbs: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  // An ES module import names the emitted file (`./x.js`); the source is `./x.ts`.
  const base = path.resolve(path.dirname(fromAbs), spec).replace(/\.js$/, "");
  for (const c of [`${base}.ts`, `${base}.tsx`, path.join(base, "index.ts"), base])
    if (/\.tsx?$/.test(c) && fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  return undefined;
}

const moduleCache = new Map<string, { mtime: number; info: ModuleInfo }>();
function moduleInfo(abs: string, stack: Set<string>): ModuleInfo | undefined {
  if (stack.has(abs)) return undefined;
  const mtime = fs.statSync(abs).mtimeMs;
  const hit = moduleCache.get(abs);
  if (hit && hit.mtime === mtime) return hit.info;
  const a = new TsFile(fs.readFileSync(abs, "utf8"), abs, abs, new Set([...stack, abs]));
  const info = a.exports();
  moduleCache.set(abs, { mtime, info });
  return info;
}

const hasExport = (n: ts.Node) =>
  ts.canHaveModifiers(n) && !!ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

class TsFile {
  readonly sf: ts.SourceFile;
  /** Wrapper templates of this file's functions, by their declaration. */
  readonly templates = new Map<ts.Node, Template>();
  /** Method wrappers of imported modules' classes, by method name. */
  readonly importedMethods = new Map<string, Template>();
  readonly fns: { decl: ts.Node; fn: FnNode; name: string; method: boolean }[] = [];

  constructor(
    text: string,
    readonly file: string,
    readonly abs: string,
    readonly stack: Set<string>,
  ) {
    this.sf = ts.createSourceFile(abs, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const visit = (n: ts.Node) => {
      if (ts.isFunctionDeclaration(n) && n.name && n.body)
        this.fns.push({ decl: n, fn: n, name: n.name.text, method: false });
      if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
        const init = strip(n.initializer);
        if (ts.isArrowFunction(init) || ts.isFunctionExpression(init))
          this.fns.push({ decl: n, fn: init, name: n.name.text, method: false });
      }
      if (ts.isMethodDeclaration(n) && ts.isIdentifier(n.name) && n.body)
        this.fns.push({ decl: n, fn: n, name: n.name.text, method: true });
      ts.forEachChild(n, visit);
    };
    visit(this.sf);
    for (const s of this.sf.statements) {
      if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier)) continue;
      const target = resolveModule(s.moduleSpecifier.text, abs);
      const info = target ? moduleInfo(target, stack) : undefined;
      for (const [k, v] of info?.methods ?? []) this.importedMethods.set(k, v);
    }
    // Wrappers may call wrappers: iterate until nothing changes.
    for (let round = 0; round <= this.fns.length; round++) {
      let changed = false;
      for (const f of this.fns) {
        if (this.templates.has(f.decl)) continue;
        const tpl = this.wrapperTemplate(f.fn);
        if (tpl) {
          this.templates.set(f.decl, tpl);
          changed = true;
        }
      }
      if (!changed) break;
    }
  }

  line(n: ts.Node): number {
    return this.sf.getLineAndCharacterOfPosition(n.getStart(this.sf)).line + 1;
  }

  private importOf(d: ts.Node): { module: string; name: string | undefined } | undefined {
    // name undefined: the namespace or default import itself.
    let decl: ts.Node = d;
    let name: string | undefined;
    if (ts.isImportSpecifier(d)) {
      name = (d.propertyName ?? d.name).text;
      decl = d.parent.parent.parent;
    } else if (ts.isNamespaceImport(d)) decl = d.parent.parent;
    else if (ts.isImportClause(d)) decl = d.parent;
    else return undefined;
    return ts.isImportDeclaration(decl) && ts.isStringLiteral(decl.moduleSpecifier)
      ? { module: decl.moduleSpecifier.text, name }
      : undefined;
  }

  private imported(module: string): ModuleInfo | undefined {
    const target = resolveModule(module, this.abs);
    return target ? moduleInfo(target, this.stack) : undefined;
  }

  callee(call: ts.CallExpression): Callee {
    const e = strip(call.expression);
    if (ts.isIdentifier(e)) {
      const d = findDecl(e.text, call);
      if (!d) return SPAWN_ANYWHERE.has(e.text) ? { family: e.text } : null;
      const imp = this.importOf(d);
      if (imp) {
        if (CHILD_PROCESS.has(imp.module))
          return imp.name && (SPAWN_ARGV.has(imp.name) || SPAWN_SHELL.has(imp.name)) ? { family: imp.name } : null;
        if (imp.module === "execa") return imp.name && EXECA_ARGV.has(imp.name) ? { family: imp.name } : null;
        const tpl = imp.name ? this.imported(imp.module)?.wrappers.get(imp.name) : undefined;
        return tpl ? { tpl } : null;
      }
      if (ts.isBindingElement(d) || (ts.isVariableDeclaration(d) && !ts.isIdentifier(d.name))) {
        // const { spawnSync } = require("node:child_process")
        let v: ts.Node = d;
        while (!ts.isVariableDeclaration(v)) v = v.parent;
        return isRequireOf(v.initializer, CHILD_PROCESS) && (SPAWN_ARGV.has(e.text) || SPAWN_SHELL.has(e.text))
          ? { family: e.text }
          : null;
      }
      const tpl = this.templates.get(d);
      return tpl ? { tpl } : null;
    }
    if (ts.isPropertyAccessExpression(e) && ts.isIdentifier(e.name)) {
      const name = e.name.text;
      const recv = strip(e.expression);
      if (recv.kind === ts.SyntaxKind.ThisKeyword) {
        let cls: ts.Node | undefined = call;
        while (cls && !ts.isClassLike(cls)) cls = cls.parent;
        const m =
          cls && ts.isClassLike(cls)
            ? cls.members.find((x) => ts.isMethodDeclaration(x) && ts.isIdentifier(x.name) && x.name.text === name)
            : undefined;
        const tpl = m ? this.templates.get(m) : undefined;
        return tpl ? { tpl } : null;
      }
      if (ts.isIdentifier(recv)) {
        const d = findDecl(recv.text, call);
        const imp = d ? this.importOf(d) : undefined;
        if (imp && imp.name === undefined) {
          if (CHILD_PROCESS.has(imp.module))
            return SPAWN_ARGV.has(name) || SPAWN_SHELL.has(name) ? { family: name } : null;
          if (imp.module === "execa") return EXECA_ARGV.has(name) ? { family: name } : null;
          const tpl = this.imported(imp.module)?.wrappers.get(name);
          if (tpl) return { tpl };
        }
        if (d && ts.isVariableDeclaration(d) && isRequireOf(d.initializer, CHILD_PROCESS))
          return SPAWN_ARGV.has(name) || SPAWN_SHELL.has(name) ? { family: name } : null;
      }
      const local = this.fns.find((f) => f.method && f.name === name && this.templates.has(f.decl));
      const tpl = local ? this.templates.get(local.decl) : this.importedMethods.get(name);
      if (tpl) return { tpl };
      return SPAWN_ANYWHERE.has(name) ? { family: name } : null;
    }
    return null;
  }

  /** The parameter index of `id` when it is a parameter of `fn`. */
  private param(id: ts.Identifier, fn: FnNode | undefined): { i: number; rest: boolean } | undefined {
    if (!fn) return undefined;
    const d = findDecl(id.text, id);
    if (!d || !ts.isParameter(d) || d.parent !== fn || !ts.isIdentifier(d.name)) return undefined;
    return { i: fn.parameters.indexOf(d), rest: !!d.dotDotDotToken };
  }

  /** A `const` string (of this file, or exported by an imported module) that `id` names. */
  private stringConst(id: ts.Identifier): Sym | undefined {
    const d = findDecl(id.text, id);
    if (!d) return undefined;
    if (
      ts.isVariableDeclaration(d) &&
      ts.isIdentifier(d.name) &&
      d.initializer &&
      ts.getCombinedNodeFlags(d) & ts.NodeFlags.Const
    ) {
      const init = strip(d.initializer);
      if (ts.isStringLiteral(init) || ts.isNoSubstitutionTemplateLiteral(init))
        return { k: "lit", text: init.text, own: true, line: this.line(init) };
    }
    const imp = this.importOf(d);
    const text =
      imp?.name && !CHILD_PROCESS.has(imp.module) ? this.imported(imp.module)?.strings.get(imp.name) : undefined;
    return text !== undefined ? { k: "lit", text, own: true, line: this.line(id), flat: true } : undefined;
  }

  sym(e: ts.Expression, fn: FnNode | undefined): Sym {
    e = strip(e);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e))
      return { k: "lit", text: e.text, own: true, line: this.line(e) };
    if (ts.isTemplateExpression(e)) {
      const shell = e.head.text + e.templateSpans.map((sp, i) => `\${__ts${i}}${sp.literal.text}`).join("");
      return { k: "unknown", prefix: e.head.text, shell, own: true, line: this.line(e) };
    }
    if (ts.isIdentifier(e)) {
      const p = this.param(e, fn);
      if (p) return p.rest ? { k: "unknown", prefix: "" } : { k: "param", i: p.i };
      return this.stringConst(e) ?? { k: "unknown", prefix: "" };
    }
    if (
      ts.isElementAccessExpression(e) &&
      ts.isIdentifier(strip(e.expression)) &&
      ts.isNumericLiteral(e.argumentExpression)
    ) {
      const p = this.param(strip(e.expression) as ts.Identifier, fn);
      if (p) return { k: "elemParam", i: p.i, n: Number(e.argumentExpression.text) };
    }
    return { k: "unknown", prefix: "" };
  }

  /** The words an argv-array expression contributes. */
  expand(e: ts.Expression, fn: FnNode | undefined): Sym[] {
    e = strip(e);
    if (ts.isArrayLiteralExpression(e))
      return e.elements.flatMap((el) => (ts.isSpreadElement(el) ? this.expand(el.expression, fn) : [this.sym(el, fn)]));
    if (ts.isIdentifier(e)) {
      const p = this.param(e, fn);
      return p ? [{ k: "spreadParam", i: p.i }] : [{ k: "spread" }];
    }
    // args.slice(n)
    if (
      ts.isCallExpression(e) &&
      ts.isPropertyAccessExpression(e.expression) &&
      e.expression.name.text === "slice" &&
      ts.isIdentifier(strip(e.expression.expression))
    ) {
      const p = this.param(strip(e.expression.expression) as ts.Identifier, fn);
      const from =
        e.arguments[0] && ts.isNumericLiteral(e.arguments[0])
          ? Number(e.arguments[0].text)
          : e.arguments.length === 0
            ? 0
            : undefined;
      if (p && from !== undefined) return [{ k: "restParam", i: p.i, from }];
    }
    return [{ k: "spread" }];
  }

  /** The argv a call starts (in terms of `fn`'s parameters when analyzing wrapper `fn`), or null. */
  argv(call: ts.CallExpression, fn: FnNode | undefined): Sym[] | null {
    const c = this.callee(call);
    if (!c) return null;
    const a = call.arguments;
    if ("family" in c) {
      if (!a[0]) return null;
      if (SPAWN_SHELL.has(c.family))
        return [
          { k: "lit", text: "sh", own: false, line: 0 },
          { k: "lit", text: "-c", own: false, line: 0 },
          this.sym(a[0], fn),
        ];
      const rest = a[1] && !ts.isObjectLiteralExpression(strip(a[1])) ? this.expand(a[1], fn) : [];
      return [this.sym(a[0], fn), ...rest];
    }
    const { argv, rest } = c.tpl;
    // The call-site array behind parameter i (a rest parameter: the arguments from i on).
    const array = (i: number): ts.Expression[] | undefined => {
      if (i === rest) return [...a.slice(i)];
      const x = a[i] ? strip(a[i]) : undefined;
      return x && ts.isArrayLiteralExpression(x) ? [...x.elements] : undefined;
    };
    const words = (els: readonly ts.Expression[]): Sym[] =>
      els.flatMap((el) => (ts.isSpreadElement(el) ? this.expand(el.expression, fn) : [this.sym(el, fn)]));
    const out: Sym[] = [];
    for (const s of argv) {
      if (s.k === "lit" || s.k === "unknown") out.push({ ...s, own: false });
      else if (s.k === "spread") out.push(s);
      else if (s.k === "param") out.push(a[s.i] && s.i !== rest ? this.sym(a[s.i]!, fn) : { k: "unknown", prefix: "" });
      else if (s.k === "spreadParam") {
        const arr = array(s.i);
        if (arr) out.push(...words(arr));
        else if (a[s.i]) out.push(...this.expand(a[s.i]!, fn));
      } else {
        const arr = array(s.i);
        const upTo = s.k === "elemParam" ? s.n + 1 : s.from;
        if (!arr || arr.slice(0, upTo).some((el) => ts.isSpreadElement(el))) {
          out.push(s.k === "elemParam" ? { k: "unknown", prefix: "" } : { k: "spread" });
        } else if (s.k === "elemParam") out.push(arr[s.n] ? this.sym(arr[s.n]!, fn) : { k: "unknown", prefix: "" });
        else out.push(...words(arr.slice(s.from)));
      }
    }
    return out;
  }

  /** A function is a wrapper when one of its parameters reaches a command position. */
  private wrapperTemplate(fn: FnNode): Template | undefined {
    let found: Sym[] | undefined;
    const visit = (n: ts.Node) => {
      if (found) return;
      if (ts.isCallExpression(n)) {
        const argv = this.argv(n, fn);
        if (argv) {
          const positions = commandPositions(argv.map(toArg), passthroughOfScript);
          if (positions.some((p) => p.kind !== "probe" && !["lit", "unknown", "spread"].includes(argv[p.index]!.k)))
            found = argv;
        }
      }
      ts.forEachChild(n, visit);
    };
    if (fn.body) visit(fn.body);
    if (!found) return undefined;
    const restIndex = fn.parameters.findIndex((p) => !!p.dotDotDotToken);
    return { argv: found, rest: restIndex >= 0 ? restIndex : undefined };
  }

  exports(): ModuleInfo {
    const info: ModuleInfo = { wrappers: new Map(), methods: new Map(), strings: new Map() };
    for (const f of this.fns) {
      const tpl = this.templates.get(f.decl);
      if (!tpl) continue;
      if (f.method) info.methods.set(f.name, tpl);
      else if (hasExport(ts.isVariableDeclaration(f.decl) ? f.decl.parent.parent : f.decl))
        info.wrappers.set(f.name, tpl);
    }
    for (const s of this.sf.statements) {
      if (!ts.isVariableStatement(s) || !hasExport(s) || !(s.declarationList.flags & ts.NodeFlags.Const)) continue;
      for (const d of s.declarationList.declarations) {
        const init = d.initializer ? strip(d.initializer) : undefined;
        if (ts.isIdentifier(d.name) && init && (ts.isStringLiteral(init) || ts.isNoSubstitutionTemplateLiteral(init)))
          info.strings.set(d.name.text, init.text);
      }
    }
    return info;
  }

  /** Emits the commands of one argv: literal words written at this call (not inside a wrapper). */
  emit(argv: Sym[], out: Invocation[], opts: ScanOptions): void {
    for (const p of commandPositions(argv.map(toArg), passthroughOfScript)) {
      const s = argv[p.index]!;
      if (p.kind === "shell" && s.k === "unknown" && s.own && s.shell !== undefined) {
        // A script built with ${…}: the expansions are unknown words; a script the shell cannot parse is skipped.
        let found: Invocation[] = [];
        try {
          found = commandsInShell(s.shell, this.file, opts);
        } catch {
          found = [];
        }
        for (const inv of found) out.push({ ...inv, line: inv.line + s.line! - 1 });
        continue;
      }
      if (s.k !== "lit" || !s.own) continue;
      if (p.kind === "shell") {
        for (const inv of commandsInShell(s.text, this.file, opts))
          out.push({ ...inv, line: s.flat ? s.line : inv.line + s.line - 1 });
        continue;
      }
      const name = commandName(s.text);
      if (name !== null) out.push({ command: name, file: this.file, line: s.line });
    }
  }

  /** `new local.Command(name, { create: SCRIPT, interpreter: [...] })` of @pulumi/command runs SCRIPT here. */
  localCommand(n: ts.NewExpression): Sym[][] {
    const e = strip(n.expression);
    if (!ts.isPropertyAccessExpression(e) || e.name.text !== "Command") return [];
    const owner = strip(e.expression);
    const ownerName = ts.isPropertyAccessExpression(owner) ? owner.name.text : ts.isIdentifier(owner) ? owner.text : "";
    const props = n.arguments?.[1] ? strip(n.arguments[1]) : undefined;
    if (ownerName !== "local" || !props || !ts.isObjectLiteralExpression(props)) return [];
    const prop = (key: string) =>
      props.properties.find(
        (p): p is ts.PropertyAssignment =>
          ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) && p.name.text === key,
      );
    const interp = prop("interpreter")?.initializer;
    const interpreter: Sym[] =
      interp && ts.isArrayLiteralExpression(strip(interp))
        ? this.expand(interp, undefined)
        : [
            { k: "lit", text: "/bin/sh", own: false, line: 0 },
            { k: "lit", text: "-c", own: false, line: 0 },
          ];
    return ["create", "update", "delete", "read"].flatMap((k) => {
      const v = prop(k)?.initializer;
      return v ? [[...interpreter, this.sym(v, undefined)]] : [];
    });
  }

  scan(opts: ScanOptions): Invocation[] {
    const out: Invocation[] = [];
    const visit = (n: ts.Node) => {
      if (ts.isCallExpression(n)) {
        const argv = this.argv(n, undefined);
        if (argv) this.emit(argv, out, opts);
      }
      if (ts.isNewExpression(n)) for (const argv of this.localCommand(n)) this.emit(argv, out, opts);
      ts.forEachChild(n, visit);
    };
    visit(this.sf);
    return out;
  }
}

function toArg(s: Sym): Arg {
  switch (s.k) {
    case "lit":
      return { text: s.text, prefix: s.text };
    case "unknown":
      return { prefix: s.prefix };
    case "spread":
    case "spreadParam":
    case "restParam":
      return { prefix: "", spread: true };
    default:
      return { prefix: "" };
  }
}

/**
 * The commands a TypeScript file starts as child processes: the literal command of spawn,
 * spawnSync, execFile, execFileSync, execa (and the script of execSync/exec), of every function that
 * passes a parameter on as the command (found by following the code, in this file and in the
 * repository modules it imports: ssh() of scripts/lib/ssh.ts, asPostgres()…), execa(), and the scripts of
 * `bash -c LITERAL` and of @pulumi/command's local.Command. `file` names the file in the result
 * and resolves its relative imports.
 */
export function commandsInTypeScript(text: string, file: string, opts: ScanOptions = {}): Invocation[] {
  const abs = path.resolve(opts.root ?? process.cwd(), file);
  return new TsFile(text, file, abs, new Set([abs])).scan(opts);
}

// ---------------------------------------------------------------------------------------------
// The repository
// ---------------------------------------------------------------------------------------------

const SHELL_DIRS = ["scripts/", "test/", "bench/", ".ci/", "cloud-init/files/", "units/"];
const TS_DIRS = ["scripts/", "test/", "bench/", "infra/", "cloud-init/"];
/** This module, its test, and test fixtures (deliberately fake programs, never run as themselves). */
const SKIP = [/^test\/support\/commands[^/]*\.ts$/, /^test\/repo\/commands-scan\.test\.ts$/, /^test\/fixtures\//];
const SHEBANG = /^#!.*[/\s](bash|sh|dash)(\s|$)/;

/** The repository's files (tracked and new, not ignored), relative to `root`. */
export function repoFiles(root: string): string[] {
  const r = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`git ls-files in ${root}: ${r.stderr || r.error}`);
  return [...new Set(r.stdout.split("\0").filter(Boolean))].filter((f) => {
    const p = path.join(root, f);
    return fs.existsSync(p) && fs.statSync(p).isFile();
  });
}

/** Shell scripts and TypeScript files commandsInRepo reads. */
export function scannedFiles(root: string): { shell: string[]; typescript: string[] } {
  const files = repoFiles(root).filter((f) => !f.split("/").includes("node_modules") && !SKIP.some((re) => re.test(f)));
  const shell = files.filter((f) => {
    if (!SHELL_DIRS.some((d) => f.startsWith(d))) return false;
    if (f.endsWith(".sh")) return true;
    if (path.extname(f) !== "") return false;
    const head = fs.readFileSync(path.join(root, f), "utf8").slice(0, 200).split("\n")[0] ?? "";
    return SHEBANG.test(head);
  });
  const typescript = files.filter((f) => TS_DIRS.some((d) => f.startsWith(d)) && f.endsWith(".ts"));
  return { shell: shell.sort(), typescript: typescript.sort() };
}

/**
 * The node's own programs (cloud-init/files, installed by the cloud-init config): scripts call
 * them by name or by their installed path, but no Debian package provides them.
 */
export function ownPrograms(root: string): Set<string> {
  return new Set(
    repoFiles(root)
      .filter((f) => f.startsWith("cloud-init/files/"))
      .map((f) => path.posix.basename(f))
      .filter((b) => path.extname(b) === "" || b.endsWith(".sh")),
  );
}

/**
 * Every external command the repository's scripts and TypeScript run, file by file (paths
 * relative to `root`), without the node's own programs (ownPrograms).
 */
export function commandsInRepo(root: string): Invocation[] {
  const { shell, typescript } = scannedFiles(root);
  const own = ownPrograms(root);
  const out: Invocation[] = [];
  for (const f of shell) out.push(...commandsInShell(fs.readFileSync(path.join(root, f), "utf8"), f, { root }));
  for (const f of typescript)
    out.push(...commandsInTypeScript(fs.readFileSync(path.join(root, f), "utf8"), f, { root }));
  return out.filter((i) => !own.has(i.command));
}
