#!/usr/bin/env node
// `x-metrics`: prints the alert rules and the Grafana dashboard for your prefix (see cli-run.ts).
import { runCli } from './cli-run.js';

// The package's sources compile without Node's types (the main entry runs anywhere); this file
// runs only under Node.
declare const process: {
  readonly argv: readonly string[];
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  exitCode?: number;
};

process.exitCode = runCli(process.argv.slice(2), process.stdout, process.stderr);
