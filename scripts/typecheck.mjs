// Type-checks the project's four TypeScript programs side by side (Worker and tests, e2e tests,
// client, demo app): each tsc uses one core, and one after another they took 25 s of `npm test`.
// Prints each program's errors under its name; exits 1 if any has errors.
import { spawn } from 'node:child_process';

const PROGRAMS = ['.', 'test/e2e', 'client', 'app'];

const check = (program) =>
  new Promise((resolve) => {
    const child = spawn('tsc', ['--noEmit', '-p', program], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (err) => resolve({ program, code: 1, output: String(err) }));
    child.on('close', (code) => resolve({ program, code, output }));
  });

const results = await Promise.all(PROGRAMS.map(check));
for (const { program, code, output } of results) {
  if (code !== 0) process.stdout.write(`tsc -p ${program}:\n${output}\n`);
}
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
