// The program as tsc emitted it (dist/src/cli/main.js, module by module), where bin/minerwatch runs
// its bundle (dist/cli): tests/helpers.ts runModulesCli.
import process from 'node:process';
import { main } from '../../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
