/** A typical pool port, on an established flow that carried data both ways: the weakest evidence. */
import { BUILTIN } from '../evidence.js';
import { NEED, type FlowFacts, type Matcher } from '../matcher.js';

export const miningPort: Matcher<FlowFacts> = {
  name: 'mining-port',
  needs: NEED.MINING_PORT | NEED.ESTABLISHED,
  excludes: 0,
  run(ctx): number {
    ctx.evidence.push({
      ruleId: BUILTIN.port.id,
      rev: BUILTIN.port.rev,
      kind: 'port',
      side: 'server',
      family: 'port',
      matched: `server port ${ctx.flow.serverPort}`,
      excerpt: '',
      offset: 0,
      time: ctx.flow.firstSeen,
    });
    return 0;
  },
};
