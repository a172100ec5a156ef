// Runs a consensus scenario script (as CCF's tests/raft_scenarios) over the cluster simulator with
// a reliable, instant network that moves only when the script says. One command a line; a bad
// line fails with the file, the line number and what was expected there.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseTxId } from "../../src/ids.ts";
import { viewAt } from "../../src/consensus/raft.ts";
import { Cluster } from "./cluster-sim.ts";

export class ScenarioError extends Error {}

const USAGE: Record<string, string> = {
  nodes: "nodes <count>",
  tick: "tick <ms> (time moves in 10 ms steps, each delivering what is in flight)",
  elect: "elect <node>",
  timeout: "timeout <node>",
  submit: "submit <node> <count>",
  sign: "sign <node>",
  deliver: "deliver all | deliver <from> <to>",
  drop: "drop all | drop <from> <to>",
  partition: "partition <nodes> | <nodes>",
  heal: "heal",
  crash: "crash <node>",
  restart: "restart <node>",
  add: "add <node>",
  remove: "remove <node>",
  expect: "expect primary <node> | expect none primary | expect one primary | expect role <node> <role> | expect committed <view.seqno> on <nodes> | expect pending|invalid <view.seqno> on <nodes> | expect retired <nodes>",
};

export function runScenarioFile(path: string, seed = 1): Cluster {
  return runScenario(readFileSync(path, "utf8"), basename(path), seed);
}

export function runScenario(text: string, file: string, seed = 1): Cluster {
  let cluster: Cluster | undefined;
  const lines = text.split("\n");
  lines.forEach((raw, index) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const words = line.split(/\s+/);
    const command = words[0]!;
    const where = `${file}:${index + 1}`;
    const bad = (why: string): never => {
      throw new ScenarioError(`${where}: ${why} in "${line}"; expected: ${USAGE[command] ?? Object.values(USAGE).join(" ; ")}`);
    };
    if (!(command in USAGE)) bad(`unknown command ${command}`);
    if (command === "nodes") {
      if (cluster) bad("nodes given twice");
      const count = Number(words[1]);
      if (words.length !== 2 || !Number.isInteger(count) || count < 1) bad("a node count");
      cluster = new Cluster({ seed, nodes: count });
      cluster.syncAtOnce = true;
      return;
    }
    if (!cluster) return bad("the first command must be nodes");
    const c = cluster;
    const node = (id: string | undefined): string => (id !== undefined && c.nodes.has(id) ? id : bad(`unknown node ${id ?? "(missing)"}`));
    const primary = (): string => c.primariesNow()[0]?.id ?? bad("no primary");
    const args = (n: number): void => void (words.length !== n + 1 && bad(`${n} argument(s)`));
    const check = (ok: boolean, what: string): void => {
      if (!ok) throw new ScenarioError(`${where}: expectation failed: ${line} (${what})`);
    };
    switch (command) {
      case "tick": {
        args(1);
        const ms = Number(words[1]);
        if (!(ms > 0)) bad("a positive number of ms");
        for (let t = 0; t < ms; t += 10) {
          c.advance(Math.min(10, ms - t));
          c.deliver(() => true);
        }
        return;
      }
      case "elect":
      case "timeout":
        args(1);
        c.input(c.node(node(words[1])), { type: "campaign" });
        if (command === "elect") c.deliver(() => true);
        return;
      case "submit": {
        args(2);
        const count = Number(words[2]);
        if (!Number.isInteger(count) || count < 1) bad("a transaction count");
        if (!c.submit(node(words[1]), count)) check(false, `${words[1]} does not accept writes`);
        return;
      }
      case "sign":
        args(1);
        return c.sign(node(words[1]));
      case "deliver":
      case "drop": {
        const match =
          words[1] === "all" && words.length === 2
            ? () => true
            : words.length === 3
              ? ((from: string, to: string) => (m: { from: string; to: string }) => m.from === from && m.to === to)(node(words[1]), node(words[2]))
              : bad("all, or a sender and a receiver");
        if (command === "deliver") c.deliver(match);
        else c.network = c.network.filter((m) => !match(m));
        return;
      }
      case "partition": {
        const groups = words.slice(1).join(" ").split("|").map((g) => g.trim().split(/\s+/).filter(Boolean).map(node));
        if (groups.length < 2 || groups.some((g) => g.length === 0)) bad("two or more groups of nodes split by |");
        c.partition = groups;
        return;
      }
      case "heal":
        args(0);
        c.partition = [];
        return;
      case "crash":
        args(1);
        return c.crash(node(words[1]));
      case "restart":
        args(1);
        return c.restart(node(words[1]));
      case "add":
        args(1);
        if (c.nodes.has(words[1]!)) bad(`${words[1]} exists`);
        c.addNode(primary(), words[1]);
        return;
      case "remove":
        args(1);
        return c.removeNode(primary(), node(words[1]));
      case "expect":
        return expect(c, words.slice(1), bad, check, node);
    }
  });
  if (!cluster) throw new ScenarioError(`${file}: empty scenario`);
  return cluster;
}

function expect(
  c: Cluster,
  words: string[],
  bad: (why: string) => never,
  check: (ok: boolean, what: string) => void,
  node: (id: string | undefined) => string,
): void {
  const [what, ...rest] = words;
  if (what === "primary" && rest.length === 1) {
    const primaries = c.primariesNow().map((n) => n.id);
    return check(primaries.length === 1 && primaries[0] === node(rest[0]), `primaries: ${primaries.join(" ") || "none"}`);
  }
  if (what === "one" && rest[0] === "primary") return check(c.primariesNow().length === 1, `primaries: ${c.primariesNow().map((n) => n.id).join(" ") || "none"}`);
  if (what === "none" && rest[0] === "primary") return check(c.primariesNow().length === 0, `primaries: ${c.primariesNow().map((n) => n.id).join(" ")}`);
  if (what === "role" && rest.length === 2) {
    const role = c.node(node(rest[0])).raft.role;
    return check(role === rest[1], `${rest[0]} is ${role}`);
  }
  if (what === "retired") {
    for (const id of rest.map(node)) check(c.node(id).retired, `${id} is ${c.node(id).raft.role}`);
    return;
  }
  if ((what === "committed" || what === "pending" || what === "invalid") && rest[1] === "on" && rest.length > 2) {
    const tx = parseTxId(rest[0]!) ?? bad(`a transaction id view.seqno, not ${rest[0]}`);
    for (const id of rest.slice(2).map(node)) {
      const n = c.node(id);
      const held = tx.seqno <= n.raft.lastSeqno ? viewAt(n.raft, tx.seqno) : undefined;
      const state = `${id}: commit ${n.raft.commitSeqno}, entry ${tx.seqno} in view ${held ?? "none"}`;
      if (what === "committed") check(n.raft.commitSeqno >= tx.seqno && held === tx.view, state);
      else if (what === "pending") check(n.raft.commitSeqno < tx.seqno && held === tx.view, state);
      else check(held !== tx.view, state);
    }
    return;
  }
  bad("a known expectation");
}
