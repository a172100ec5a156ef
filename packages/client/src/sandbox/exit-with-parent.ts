// Preloaded (node --import) into each node process the sandbox starts: the sandbox holds the
// write end of the node's stdin, so the pipe ends when the sandbox does, however it ends
// (SIGKILL included). The node then stops as on Ctrl-C (SIGTERM: ledger signed and flushed)
// instead of living on as an orphan that holds its ports and ledger.
process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
process.stdin.on("error", () => process.kill(process.pid, "SIGTERM"));
process.stdin.resume();
