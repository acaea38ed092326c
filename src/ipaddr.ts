/**
 * ipaddr.js, loaded with `require`. It is CommonJS: imported from an ES module, Node first lexes
 * its whole source for the names it exports (cjs-module-lexer), which costs every command about
 * 20 ms at its start (`import` against `require` of the package alone, seven runs each: 80 ms
 * against 60 ms), and the lexer is hot enough there for V8 to optimise it on each thread that does
 * so. The types are the package's own.
 */
import { createRequire } from 'node:module';
import type * as Ipaddr from 'ipaddr.js';

const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof Ipaddr;

// eslint-disable-next-line @typescript-eslint/no-namespace -- the package's class types under the value's name, as `import ipaddr from 'ipaddr.js'` gives them
declare namespace ipaddr {
  type IPv4 = Ipaddr.IPv4;
  type IPv6 = Ipaddr.IPv6;
}

export default ipaddr;
