import type { Command } from 'commander';

/** A command's path below its program, e.g. `util sealer sectors list`; the program itself is ''. */
function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Puts each command's examples (by its path) under its `--help`. A command without examples fails here,
 * at start, so that no command ships without one.
 */
export function addExamples(program: Command, examples: Record<string, string[]>): Command {
  const visit = (cmd: Command): void => {
    const path = pathOf(cmd);
    const lines = examples[path];
    if (!lines) throw new Error(`command "${program.name()} ${path}" has no example`);
    cmd.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
  return program;
}
