// The `x-metrics` command, separate from its entry file so tests can run it in-process.
import { grafanaDashboard } from './dashboard.js';
import { metricNames } from './collect.js';
import { NAMING_IDS } from './naming.js';
import type { NamingId } from './naming.js';
import { alertRulesYaml } from './rules.js';
import { alertRuleTestsYaml } from './rules-tests.js';

/** Where the command writes. */
export interface CliOutput {
  write(text: string): unknown;
}

export const USAGE = `Usage: x-metrics <command> [--prefix <prefix>] [--naming <naming>]

Prints what @x/metrics exports under your prefix, so nobody edits x_ by hand:

  rules       Prometheus alerting rules (YAML, for rule_files:)
  dashboard   Grafana dashboard (JSON model, to import)
  rules-tests promtool unit tests of those rules (promtool test rules <file>)
  names       every metric name, one per line

  --prefix <p>      the prefix given to collectMetrics (default: the naming's, x)
  --naming <n>      ${NAMING_IDS.join(' | ')} (default x): the naming given to collectMetrics
  --time-scale <f>  rules only: multiply every window and for: (tests compress time; default 1)
  --rule-file <f>   rules-tests only: the rule file the tests load (default x-resilience.rules.yml)

Examples:
  x-metrics rules --prefix dwcp > /etc/prometheus/rules/dwcp-resilience.yml
  x-metrics dashboard --naming go-cachex > cachex-dashboard.json
`;

/** Runs the command with `args` (without the node and script paths); returns the exit code. */
export function runCli(args: readonly string[], out: CliOutput, err: CliOutput): number {
  const [command, ...rest] = args;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    (command === undefined ? err : out).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const flags: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    const match = /^--(prefix|naming|time-scale|rule-file)(?:=(.*))?$/.exec(arg);
    if (match === null) return fail(err, `unknown argument ${arg}`);
    const value = match[2] ?? rest[++i];
    if (value === undefined) return fail(err, `--${match[1]} needs a value`);
    flags[match[1] as string] = value;
  }
  const naming = flags['naming'] as NamingId | undefined;
  const base = { ...(flags['prefix'] !== undefined && { prefix: flags['prefix'] }), ...(naming !== undefined && { naming }) };
  try {
    switch (command) {
      case 'rules': {
        if (flags['rule-file'] !== undefined) return fail(err, '--rule-file applies to rules-tests only');
        const scale = flags['time-scale'];
        out.write(alertRulesYaml({ ...base, ...(scale !== undefined && { timeScale: Number(scale) }) }));
        return 0;
      }
      case 'rules-tests':
        if (flags['time-scale'] !== undefined) return fail(err, '--time-scale applies to rules only');
        out.write(alertRuleTestsYaml({ ...base, ...(flags['rule-file'] !== undefined && { ruleFile: flags['rule-file'] }) }));
        return 0;
      case 'dashboard':
        if (flags['time-scale'] !== undefined) return fail(err, '--time-scale applies to rules only');
        out.write(`${JSON.stringify(grafanaDashboard(base), null, 2)}\n`);
        return 0;
      case 'names':
        if (flags['time-scale'] !== undefined) return fail(err, '--time-scale applies to rules only');
        out.write(`${metricNames(base.prefix, naming ?? 'x').join('\n')}\n`);
        return 0;
      default:
        return fail(err, `unknown command ${command}`);
    }
  } catch (error) {
    return fail(err, error instanceof Error ? error.message : String(error));
  }
}

function fail(err: CliOutput, message: string): number {
  err.write(`x-metrics: ${message}\n\n${USAGE}`);
  return 2;
}
